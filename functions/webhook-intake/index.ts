import { z } from 'zod';
import { awsConfig, parseConfig } from '../../shared/config.js';
import { appCredentials, secretsManager, sqsQueue } from '../../shared/runtime/aws.js';
import type { WebhookMessage } from '../../shared/webhooks/intake.js';
import { makeHandler } from './handler.js';

const config = parseConfig(
  awsConfig.and(z.object({ WEBHOOK_QUEUE_URL: z.url(), WEBHOOK_SECRETS_SECRET_ID: z.string().min(1) })),
);

export const handler = makeHandler({
  queue: sqsQueue<WebhookMessage>(config, config.WEBHOOK_QUEUE_URL),
  credentials: appCredentials(secretsManager(config), {
    webhookSecretsSecretId: config.WEBHOOK_SECRETS_SECRET_ID,
  }),
});
