import { awsConfig, parseConfig, webhookIntakeConfig } from '../../shared/config.js';
import { appCredentials, secretsManager, sqsQueue } from '../../shared/runtime/aws.js';
import type { WebhookMessage } from '../../shared/webhooks/intake.js';
import { makeHandler } from './handler.js';

const config = parseConfig([awsConfig(), webhookIntakeConfig()]);

export const handler = makeHandler({
  queue: sqsQueue<WebhookMessage>(config, config.WEBHOOK_QUEUE_URL),
  credentials: appCredentials(secretsManager(config), {
    webhookSecretsSecretId: config.WEBHOOK_SECRETS_SECRET_ID,
  }),
});
