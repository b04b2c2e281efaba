import { ArnFormat, Duration, Stack } from 'aws-cdk-lib';
import type * as apigw from 'aws-cdk-lib/aws-apigatewayv2';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { METRICS_NAMESPACE } from '../../shared/metrics.js';
import type { ServiceFunction } from './service-function.js';

export const SERVICE_NAME = 'stripe-connector';

export interface MonitoringProps {
  key: kms.IKey;
  alarmEmail?: string;
  functions: Record<string, ServiceFunction>;
  deadLetterQueues: Record<string, sqs.IQueue>;
  /** Work queues and the age past which their oldest message means work is stuck. */
  workQueues: Record<string, { queue: sqs.IQueue; maxAge: Duration }>;
  api: apigw.HttpApi;
}

/**
 * The alarms an operator acts on (docs/runbook.md says what to do for each),
 * all to one encrypted SNS topic: dead letters (the queues' and the failed
 * nightly fan-out's), work waiting too long in a queue, function errors and
 * throttles, the API's 5xx answers, a secret nobody filled, webhook signature
 * failures, sync failures and token refresh failures.
 */
export class Monitoring extends Construct {
  readonly topic: sns.Topic;
  readonly alarms: cloudwatch.Alarm[] = [];

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    this.topic = new sns.Topic(this, 'Alarms', { masterKey: props.key, enforceSSL: true });
    // The topic's own policy (enforceSSL writes one) replaces SNS's default: CloudWatch may
    // publish only for this account's alarms of this stack (the key policy says the same).
    const stack = Stack.of(this);
    this.topic.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.topic.topicArn],
        conditions: {
          StringEquals: { 'aws:SourceAccount': stack.account },
          ArnLike: {
            'aws:SourceArn': stack.formatArn({
              service: 'cloudwatch',
              resource: 'alarm',
              resourceName: `${stack.stackName}-*`,
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          },
        },
      }),
    );
    // CloudWatch publishes to this encrypted topic: the stateful stack's key policy lets it use the key.
    if (props.alarmEmail) this.topic.addSubscription(new subscriptions.EmailSubscription(props.alarmEmail));
    const action = new actions.SnsAction(this.topic);
    const add = (alarmId: string, alarmProps: cloudwatch.AlarmProps) => {
      const alarm = new cloudwatch.Alarm(this, alarmId, {
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        ...alarmProps,
      });
      alarm.addAlarmAction(action);
      alarm.addOkAction(action);
      this.alarms.push(alarm);
    };

    for (const [name, queue] of Object.entries(props.deadLetterQueues)) {
      add(`${name}DeadLetters`, {
        alarmName: `${Stack.of(this).stackName}-${name}-dead-letters`,
        alarmDescription: `Messages reached the ${name} dead-letter queue (runbook: replaying a dead-letter queue)`,
        metric: queue.metricApproximateNumberOfMessagesVisible({
          period: Duration.minutes(1),
          statistic: 'Maximum',
        }),
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
      });
    }
    for (const [name, fn] of Object.entries(props.functions)) {
      add(`${fn.node.id}Errors`, {
        alarmName: `${Stack.of(this).stackName}-${name}-errors`,
        alarmDescription: `The ${name} function is failing`,
        metric: fn.fn.metricErrors({ period: Duration.minutes(5) }),
        threshold: 5,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      });
      add(`${fn.node.id}Throttles`, {
        alarmName: `${Stack.of(this).stackName}-${name}-throttles`,
        alarmDescription: `The ${name} function is being throttled`,
        metric: fn.fn.metricThrottles({ period: Duration.minutes(5) }),
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      });
    }
    for (const [name, { queue, maxAge }] of Object.entries(props.workQueues)) {
      add(`${name}OldestMessage`, {
        alarmName: `${Stack.of(this).stackName}-${name}-oldest-message`,
        alarmDescription: `The ${name} queue's oldest message is older than ${maxAge.toHumanString()}: its consumer is stuck, throttled or failing`,
        metric: queue.metricApproximateAgeOfOldestMessage({
          period: Duration.minutes(5),
          statistic: 'Maximum',
        }),
        threshold: maxAge.toSeconds(),
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      });
    }
    add('Api5xx', {
      alarmName: `${Stack.of(this).stackName}-api-5xx`,
      alarmDescription:
        'The HTTP API answers 5xx: a function fails, times out or is throttled (see its own alarms)',
      metric: props.api.metricServerError({ period: Duration.minutes(5), statistic: 'Sum' }),
      threshold: 5,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    });
    const serviceMetric = (metricName: string) =>
      new cloudwatch.Metric({
        namespace: METRICS_NAMESPACE,
        metricName,
        dimensionsMap: { service: SERVICE_NAME },
        statistic: 'Sum',
        period: Duration.minutes(5),
      });
    add('WebhookSignatureFailures', {
      alarmName: `${Stack.of(this).stackName}-webhook-signature-failures`,
      alarmDescription:
        'Webhook deliveries fail verification: a rolled secret not yet stored, or someone probing the endpoint',
      metric: serviceMetric('WebhookSignatureFailures'),
      threshold: 10,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    });
    add('SecretNotConfigured', {
      alarmName: `${Stack.of(this).stackName}-secret-not-configured`,
      alarmDescription:
        'A function found a secret an operator must fill still empty (README: after the first deploy); its log names the secret',
      metric: serviceMetric('SecretNotConfigured'),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    });
    add('SyncFailures', {
      alarmName: `${Stack.of(this).stackName}-sync-failures`,
      alarmDescription: 'Syncs are failing (Stripe unavailable, or a bug): see the sync worker logs',
      metric: serviceMetric('SyncFailures'),
      threshold: 5,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    });
    add('TokenRefreshFailures', {
      alarmName: `${Stack.of(this).stackName}-token-refresh-failures`,
      alarmDescription: 'Access-token refreshes fail: connections fall into needs_reauth',
      metric: serviceMetric('TokenRefreshFailures'),
      threshold: 3,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    });
  }
}
