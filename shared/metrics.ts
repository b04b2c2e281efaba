import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';

/**
 * The one Metrics instance (CloudWatch embedded metric format). Functions
 * flush it with the `logMetrics` middleware; alarms watch these names.
 */
/** The CloudWatch namespace of the service's metrics: the alarms (infra/) watch it by this name. */
export const METRICS_NAMESPACE = 'Defrr/StripeConnector';

export const metrics = new Metrics({
  namespace: METRICS_NAMESPACE,
  serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'stripe-connector',
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
