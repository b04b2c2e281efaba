import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { HttpError } from '../../shared/errors.js';
import { httpHandler } from '../../shared/http/handler.js';
import { json } from '../../shared/http/response.js';
import { logger } from '../../shared/logger.js';
import { count, MetricNames, metrics } from '../../shared/metrics.js';
import type { AppCredentials } from '../../shared/ports/app-credentials.js';
import type { JobQueue } from '../../shared/ports/job-queue.js';
import { toMessage, verifyWebhook, type WebhookMessage } from '../../shared/webhooks/intake.js';

const REJECTIONS = {
  too_large: [413, 'payload_too_large', 'The payload is too large.'],
  missing_signature: [400, 'invalid_signature', 'The webhook could not be verified.'],
  invalid_signature: [400, 'invalid_signature', 'The webhook could not be verified.'],
  stale_timestamp: [400, 'invalid_signature', 'The webhook could not be verified.'],
  invalid_payload: [400, 'invalid_payload', 'The payload is not a Stripe event.'],
} as const;

/**
 * POST /v1/webhooks/stripe: verify, queue, 200. Never a 2xx for an event that
 * is not durably queued (a failed send throws: 500, and Stripe retries). Logs
 * say why a delivery was refused, never what it contained.
 */
export const makeHandler = (deps: { queue: JobQueue<WebhookMessage>; credentials: AppCredentials }) =>
  httpHandler(async (event) => {
    // A text body is verified as the string it arrived as: the same UTF-8 bytes, without a copy.
    const raw = event.isBase64Encoded ? Buffer.from(event.body ?? '', 'base64') : (event.body ?? '');
    const bytes = Buffer.byteLength(raw);
    const secrets = await deps.credentials.webhookSecrets();
    // No signing secret stored yet (the operator's step after the first deploy, logged and
    // alarmed by the adapter): nothing can be verified, so ask Stripe to retry later rather
    // than refuse what it signed. It retries for up to three days.
    if (secrets.length === 0)
      throw new HttpError(503, 'not_configured', 'Webhooks cannot be verified yet. Please retry later.', {
        expose: true,
        headers: { 'retry-after': '300' },
      });
    const result = verifyWebhook(raw, event.headers['stripe-signature'], secrets);
    if (!result.ok) {
      const [status, code, message] = REJECTIONS[result.reason];
      count(
        result.reason === 'invalid_signature' ||
          result.reason === 'missing_signature' ||
          result.reason === 'stale_timestamp'
          ? MetricNames.webhookSignatureFailures
          : MetricNames.webhookRejected,
      );
      logger.warn('webhook refused', { reason: result.reason, bytes });
      throw new HttpError(status, code, message);
    }
    await deps.queue.send(toMessage(result.event, bytes));
    count(MetricNames.webhookQueued);
    logger.info('webhook queued', {
      eventId: result.event.id,
      type: result.event.type,
      accountId: result.event.account,
    });
    return json(200, { received: true });
  }).use(logMetrics(metrics));
