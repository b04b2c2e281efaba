import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { logger } from './logger.js';

/**
 * The one Metrics instance (CloudWatch embedded metric format). Functions
 * flush it with the `logMetrics` middleware; alarms watch these names.
 */
/** The CloudWatch namespace of the service's metrics: the alarms (infra/) watch it by this name. */
export const METRICS_NAMESPACE = 'Defrr/StripeConnector';

/**
 * What Powertools' metrics say goes to the service's logger (structured, at its level). That an
 * invocation added no metric (a status read, a duplicate delivery) is no warning: Powertools
 * says so at every flush of one, so it is a debug line.
 */
export const metricsLogger = {
  debug: (message: string, ...rest: unknown[]) => logger.debug(message, ...(rest as [])),
  info: (message: string, ...rest: unknown[]) => logger.info(message, ...(rest as [])),
  warn: (message: string, ...rest: unknown[]) =>
    typeof message === 'string' && message.startsWith('No application metrics to publish')
      ? logger.debug(message)
      : logger.warn(message, ...(rest as [])),
  error: (message: string, ...rest: unknown[]) => logger.error(message, ...(rest as [])),
};

export const metrics = new Metrics({
  namespace: METRICS_NAMESPACE,
  serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'stripe-connector',
  logger: metricsLogger,
});

export const MetricNames = {
  webhookSignatureFailures: 'WebhookSignatureFailures',
  webhookRejected: 'WebhookRejected',
  webhookQueued: 'WebhookQueued',
  webhookProcessed: 'WebhookEventsProcessed',
  webhookDuplicates: 'WebhookDuplicates',
  webhookDropped: 'WebhookEventsDropped',
  webhookOtherApiVersion: 'WebhookOtherApiVersion',
  connectionsRevoked: 'ConnectionsRevoked',
  recordsSynced: 'RecordsSynced',
  stripeRequests: 'StripeRequests',
  stripeRetries: 'StripeRetries',
  syncDuration: 'SyncDuration',
  syncFailures: 'SyncFailures',
  tokenRefreshFailures: 'TokenRefreshFailures',
  secretNotConfigured: 'SecretNotConfigured',
} as const;

export function count(name: (typeof MetricNames)[keyof typeof MetricNames], value = 1): void {
  metrics.addMetric(name, MetricUnit.Count, value);
}

export { MetricUnit };
