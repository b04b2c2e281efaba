import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps, Token, Validations } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpJwtAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import * as integrations from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { recordsTable, serviceTable } from '../shared/data/tables.js';
import { type FunctionName, routes } from '../shared/http/routes.js';
import { JobQueue } from './constructs/job-queue.js';
import { Monitoring } from './constructs/monitoring.js';
import { ServiceFunction } from './constructs/service-function.js';
import {
  queueConsumerConcurrency,
  reservedConcurrencyOf,
  type Settings,
  SYNC_WORKER_MEMORY_MB,
} from './settings.js';
import type { StatefulResources } from './stateful-stack.js';

export interface ServiceStackProps extends StackProps {
  settings: Settings;
  stateful: StatefulResources;
}

const CALLBACK_PATH = '/v1/integrations/stripe/callback';

function importStateful(scope: Construct, stateful: StatefulResources): StatefulResources {
  const key = kms.Key.fromKeyArn(scope, 'ServiceKey', stateful.key.keyArn);
  const table = (id: string, source: dynamodb.ITable, indexes: string[]) =>
    dynamodb.Table.fromTableAttributes(scope, id, {
      tableArn: source.tableArn,
      encryptionKey: key,
      ...(indexes.length > 0 ? { globalIndexes: indexes } : {}),
    });
  return {
    key,
    serviceTable: table(
      'ServiceTable',
      stateful.serviceTable,
      serviceTable.globalSecondaryIndexes.map((i) => i.indexName),
    ),
    recordsTable: table(
      'RecordsTable',
      stateful.recordsTable,
      recordsTable.globalSecondaryIndexes.map((i) => i.indexName),
    ),
    appCredentials: secretsmanager.Secret.fromSecretAttributes(scope, 'AppCredentials', {
      secretCompleteArn: stateful.appCredentials.secretArn,
      encryptionKey: key,
    }),
    webhookSecrets: secretsmanager.Secret.fromSecretAttributes(scope, 'WebhookSecrets', {
      secretCompleteArn: stateful.webhookSecrets.secretArn,
      encryptionKey: key,
    }),
    connectionSecretPrefix: stateful.connectionSecretPrefix,
  };
}

/** The code: functions, queues and the HTTP API, taking the stateful resources through typed props. */
export class ServiceStack extends Stack {
  readonly functions: Record<FunctionName, ServiceFunction>;
  readonly api: apigw.HttpApi;
  readonly syncQueue: JobQueue;
  readonly webhookQueue: JobQueue;
  readonly bus: events.IEventBus;
  readonly schedule: events.Rule;
  /** Where a failed nightly fan-out or sweep lands: undeliverable schedule events and failed invocations. */
  readonly dispatchFailures: sqs.Queue;
  readonly monitoring: Monitoring;

  constructor(scope: Construct, id: string, props: ServiceStackProps) {
    super(scope, id, props);
    const { settings } = props;
    // Grants on the stateful stack's own constructs would edit the key policy there and make
    // the two stacks depend on each other; imported references grant through the roles instead.
    const stateful = importStateful(this, props.stateful);
    const reserved = reservedConcurrencyOf(settings);
    const common = (name: FunctionName) => ({
      name,
      serviceName: 'stripe-connector',
      logRetentionDays: settings.logRetentionDays,
      logKey: stateful.key,
      ...(reserved[name] === undefined ? {} : { reservedConcurrency: reserved[name] }),
    });

    this.syncQueue = new JobQueue(this, 'SyncQueue', {
      key: stateful.key,
      consumerTimeout: Duration.minutes(15),
      maxReceiveCount: 3,
    });

    this.webhookQueue = new JobQueue(this, 'WebhookQueue', {
      key: stateful.key,
      consumerTimeout: Duration.seconds(60),
      maxReceiveCount: 5,
    });

    this.api = new apigw.HttpApi(this, 'HttpApi', {
      apiName: `defrr-stripe-${settings.stage}`,
      createDefaultStage: false,
      corsPreflight: {
        allowOrigins: settings.frontendOrigins,
        allowMethods: [apigw.CorsHttpMethod.GET, apigw.CorsHttpMethod.POST, apigw.CorsHttpMethod.DELETE],
        allowHeaders: ['authorization', 'content-type'],
        maxAge: Duration.minutes(10),
      },
    });
    // A custom domain keeps the callback URL (which the Stripe app manifest lists exactly)
    // when the API itself is replaced; without one it is the API's own endpoint.
    // A regional endpoint takes a certificate from its own region only.
    const certificateRegion = settings.certificateArn?.split(':')[3];
    if (certificateRegion && !Token.isUnresolved(this.region) && certificateRegion !== this.region)
      throw new Error(
        `certificateArn is in ${certificateRegion}, but the API's custom domain is regional: it needs a certificate in ${this.region}`,
      );
    const domain =
      settings.domainName && settings.certificateArn
        ? new apigw.DomainName(this, 'ApiDomain', {
            domainName: settings.domainName,
            certificate: acm.Certificate.fromCertificateArn(this, 'ApiCertificate', settings.certificateArn),
            endpointType: apigw.EndpointType.REGIONAL,
            securityPolicy: apigw.SecurityPolicy.TLS_1_2,
          })
        : undefined;
    const publicBase = domain ? `https://${settings.domainName}` : this.api.apiEndpoint;
    const redirectUri = settings.oauthRedirectUri ?? `${publicBase}${CALLBACK_PATH}`;

    const auth = {
      JWT_ORG_CLAIM: settings.jwtOrgClaim,
      JWT_ROLES_CLAIM: settings.jwtRolesClaim,
      JWT_ADMIN_ROLE: settings.jwtAdminRole,
    };
    const frontend = {
      FRONTEND_ORIGINS: settings.frontendOrigins.join(','),
      FRONTEND_INTEGRATION_PATH: settings.frontendIntegrationPath,
    };

    const connectStart = new ServiceFunction(this, 'ConnectStart', common('connect-start'))
      .bindServiceTable(stateful.serviceTable, stateful.key, 'readWrite')
      .envs({
        ...auth,
        ...frontend,
        STRIPE_CLIENT_ID: settings.stripeClientId,
        ...(settings.stripeAuthorizeUrlTest
          ? { STRIPE_AUTHORIZE_URL_TEST: settings.stripeAuthorizeUrlTest }
          : {}),
        ...(settings.stripeAuthorizeUrlLive
          ? { STRIPE_AUTHORIZE_URL_LIVE: settings.stripeAuthorizeUrlLive }
          : {}),
        STRIPE_DEFAULT_MODE: settings.stripeDefaultMode,
        OAUTH_REDIRECT_URI: redirectUri,
        TOKEN_SECRET_PREFIX: stateful.connectionSecretPrefix,
      });

    this.bus = settings.eventBusName
      ? events.EventBus.fromEventBusName(this, 'DefrrBus', settings.eventBusName)
      : new events.EventBus(this, 'EventBus', { eventBusName: `defrr-stripe-${settings.stage}` });

    const oauthCallback = new ServiceFunction(this, 'OAuthCallback', {
      ...common('oauth-callback'),
      timeout: Duration.seconds(29),
    })
      .bindServiceTable(stateful.serviceTable, stateful.key, 'readWrite')
      .bindConnectionSecrets(stateful.connectionSecretPrefix, stateful.key, ['create'])
      .bindAppCredentials(stateful.appCredentials, stateful.key)
      .envs(frontend);

    // The user who started the connect confirms the install: the connection, its link, the first sync.
    const connectConfirm = new ServiceFunction(this, 'ConnectConfirm', common('connect-confirm'))
      .bindServiceTable(stateful.serviceTable, stateful.key, 'readWrite')
      .bindConnectionSecrets(stateful.connectionSecretPrefix, stateful.key, ['delete'])
      .bindQueueSender(this.syncQueue.queue, stateful.key, 'SYNC_QUEUE_URL')
      .bindEventBus(this.bus, settings.eventSource)
      .envs(auth);

    const status = new ServiceFunction(this, 'Status', common('status'))
      .bindServiceTable(stateful.serviceTable, stateful.key, 'read')
      .envs(auth)
      // The counts of what is stored (one item per records partition), nothing else of the records.
      .bindRecordsTable(stateful.recordsTable, stateful.key, 'counts');

    // The change feed: the connections (to resolve one) and the feed index, read only.
    const records = new ServiceFunction(this, 'Records', { ...common('records'), memorySize: 1024 })
      .bindServiceTable(stateful.serviceTable, stateful.key, 'read')
      .envs({ ...auth, RECORDS_SERVICE_SCOPE: settings.recordsServiceScope })
      .bindRecordsTable(stateful.recordsTable, stateful.key, 'feed');

    // Disconnects; an erase of the records it asks for is the sync worker's (a queued job).
    const disconnect = new ServiceFunction(this, 'Disconnect', common('disconnect'))
      .bindServiceTable(stateful.serviceTable, stateful.key, 'readWrite')
      .bindConnectionSecrets(stateful.connectionSecretPrefix, stateful.key, ['delete'])
      .bindQueueSender(this.syncQueue.queue, stateful.key, 'SYNC_QUEUE_URL')
      .bindEventBus(this.bus, settings.eventSource)
      .envs(auth);

    const health = new ServiceFunction(this, 'Health', { ...common('health'), powertools: false });

    // Webhook intake: verify and queue, nothing else. No table, no connection secret.
    const webhookIntake = new ServiceFunction(this, 'WebhookIntake', {
      ...common('webhook-intake'),
      memorySize: 1024,
    })
      .bindWebhookSecrets(stateful.webhookSecrets, stateful.key)
      .bindQueueSender(this.webhookQueue.queue, stateful.key, 'WEBHOOK_QUEUE_URL');

    const webhookProcessor = new ServiceFunction(this, 'WebhookProcessor', {
      ...common('webhook-processor'),
      timeout: Duration.seconds(60),
    })
      .bindServiceTable(stateful.serviceTable, stateful.key, 'readWrite')
      .bindRecordsTable(stateful.recordsTable, stateful.key, 'readWrite')
      .bindConnectionSecrets(stateful.connectionSecretPrefix, stateful.key, ['delete'])
      .bindQueueSender(this.syncQueue.queue, stateful.key, 'SYNC_QUEUE_URL')
      .bindEventBus(this.bus, settings.eventSource);
    webhookProcessor.consumeQueue(this.webhookQueue.queue, stateful.key, {
      batchSize: 10,
      maxConcurrency: queueConsumerConcurrency(settings)['webhook-processor'],
    });

    const syncRequest = new ServiceFunction(this, 'SyncRequest', common('sync-request'))
      .bindServiceTable(stateful.serviceTable, stateful.key, 'readWrite')
      .bindQueueSender(this.syncQueue.queue, stateful.key, 'SYNC_QUEUE_URL')
      .envs({ ...auth, SYNC_MIN_INTERVAL_SECONDS: '300' });

    const syncDispatcher = new ServiceFunction(this, 'SyncDispatcher', {
      ...common('sync-dispatcher'),
      timeout: Duration.minutes(5),
    })
      .bindServiceTable(
        stateful.serviceTable,
        stateful.key,
        'readWrite',
        serviceTable.globalSecondaryIndexes.map((i) => i.indexName),
      )
      // The sweep deletes the secrets of unconfirmed installs and of failed steps.
      .bindConnectionSecrets(stateful.connectionSecretPrefix, stateful.key, ['delete'])
      .bindQueueSender(this.syncQueue.queue, stateful.key, 'SYNC_QUEUE_URL');

    const syncWorker = new ServiceFunction(this, 'SyncWorker', {
      ...common('sync-worker'),
      timeout: Duration.minutes(15),
      // One full vCPU: Lambda gives a function CPU in proportion to its memory, and a full
      // vCPU from 1,769 MB. A backfill parses, gzips and writes every record on one Node thread,
      // so below that it is CPU-bound and pays the same GB-seconds for longer (docs/benchmarks.md).
      memorySize: SYNC_WORKER_MEMORY_MB,
    })
      .bindServiceTable(stateful.serviceTable, stateful.key, 'readWrite')
      .bindRecordsTable(stateful.recordsTable, stateful.key, 'readWrite')
      .bindConnectionSecrets(stateful.connectionSecretPrefix, stateful.key, ['read', 'write', 'delete'])
      .bindAppCredentials(stateful.appCredentials, stateful.key)
      .bindQueueSender(this.syncQueue.queue, stateful.key, 'SYNC_QUEUE_URL')
      .bindEventBus(this.bus, settings.eventSource)
      .env('SYNC_FANOUT_WORKERS', String(settings.syncFanOutWorkers));
    syncWorker.consumeQueue(this.syncQueue.queue, stateful.key, {
      batchSize: 1,
      maxConcurrency: queueConsumerConcurrency(settings)['sync-worker'],
    });

    // A nightly fan-out that fails must be seen: EventBridge puts a schedule event it could not
    // deliver here (the targets' dead-letter queue), and Lambda puts here an invocation that
    // still failed after its retries (the on-failure destination); an alarm watches it. They
    // hold schedule events and error messages, no customer data: SQS-managed encryption, so
    // EventBridge needs no use of the service key.
    this.dispatchFailures = new sqs.Queue(this, 'DispatchFailures', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
      removalPolicy: RemovalPolicy.DESTROY,
    });
    Validations.of(this.dispatchFailures).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        "It is the dead-letter queue of the schedule's targets and the dispatcher's on-failure destination.",
    });
    syncDispatcher.fn.configureAsyncInvoke({
      retryAttempts: 2,
      maxEventAge: Duration.hours(1),
      onFailure: new destinations.SqsDestination(this.dispatchFailures),
    });
    const dispatcherTarget = (event?: events.RuleTargetInput) =>
      new targets.LambdaFunction(syncDispatcher.fn, {
        ...(event ? { event } : {}),
        retryAttempts: 2,
        deadLetterQueue: this.dispatchFailures,
      });

    this.schedule = new events.Rule(this, 'NightlySync', {
      description: 'Syncs every connected Stripe account',
      schedule: events.Schedule.expression(settings.syncSchedule),
      targets: [dispatcherTarget()],
    });
    // Finishes or undoes what a crash left half-done: a run taken over within minutes of its lease.
    new events.Rule(this, 'Sweep', {
      description: 'Resumes stalled syncs; removes unconfirmed installs and orphaned secrets',
      schedule: events.Schedule.rate(Duration.minutes(5)),
      targets: [dispatcherTarget(events.RuleTargetInput.fromObject({ action: 'sweep' }))],
    });

    this.functions = {
      'sync-request': syncRequest,
      'sync-dispatcher': syncDispatcher,
      'sync-worker': syncWorker,
      health,
      'connect-start': connectStart,
      'connect-confirm': connectConfirm,
      'oauth-callback': oauthCallback,
      status,
      records,
      disconnect,
      'webhook-intake': webhookIntake,
      'webhook-processor': webhookProcessor,
    };

    const accessLogs = new logs.LogGroup(this, 'ApiAccessLogs', {
      retention: settings.logRetentionDays as logs.RetentionDays,
      encryptionKey: stateful.key,
    });
    const stage = this.api.addStage('LiveStage', {
      stageName: '$default',
      autoDeploy: true,
      throttle: { rateLimit: settings.apiRateLimit, burstLimit: settings.apiBurstLimit },
      ...(domain ? { domainMapping: { domainName: domain } } : {}),
    });
    const cfnStage = stage.node.defaultChild as apigw.CfnStage;
    // Tighter limits where a route does real work per call; Stripe's webhooks get room for bursts.
    const perRoute: Record<string, [number, number]> = {
      'POST /v1/integrations/stripe/connect': [5, 10],
      'POST /v1/integrations/stripe/sync': [2, 5],
      'DELETE /v1/integrations/stripe': [2, 5],
      'POST /v1/integrations/stripe/connections/{connectionId}/sync': [2, 5],
      'DELETE /v1/integrations/stripe/connections/{connectionId}': [2, 5],
      'GET /v1/integrations/stripe/callback': [10, 20],
      'POST /v1/webhooks/stripe': [
        Math.max(settings.apiRateLimit, 100),
        Math.max(settings.apiBurstLimit, 200),
      ],
    };
    // RouteSettings is a raw JSON map in CloudFormation: its keys are not converted, so PascalCase here.
    cfnStage.routeSettings = Object.fromEntries(
      Object.entries(perRoute).map(([key, [rate, burst]]) => [
        key,
        { ThrottlingRateLimit: rate, ThrottlingBurstLimit: burst },
      ]),
    );
    cfnStage.accessLogSettings = {
      destinationArn: accessLogs.logGroupArn,
      // Request metadata only: never the query string (the callback's carries an authorization code).
      format: JSON.stringify({
        requestId: '$context.requestId',
        ip: '$context.identity.sourceIp',
        routeKey: '$context.routeKey',
        status: '$context.status',
        latency: '$context.responseLatency',
        authorizerError: '$context.authorizer.error',
        integrationError: '$context.integrationErrorMessage',
      }),
    };

    const authorizer = new HttpJwtAuthorizer('JwtAuthorizer', settings.jwtIssuer, {
      jwtAudience: settings.jwtAudience,
      identitySource: ['$request.header.Authorization'],
    });
    for (const route of routes) {
      const [added] = this.api.addRoutes({
        path: route.path,
        methods: [apigw.HttpMethod[route.method]],
        // One integration per route (a function serving two routes has two); the first route's
        // id is the one it always had, so deployed integrations are not replaced.
        integration: new integrations.HttpLambdaIntegration(
          `${route.function}-${route.method}${route.path.includes('/connections/') ? '-connection' : ''}`,
          this.functions[route.function].fn,
        ),
        ...(route.auth === 'jwt' ? { authorizer } : {}),
      });
      if (route.auth === 'public' && added) {
        Validations.of(added).acknowledge({
          id: 'AwsSolutions-APIG4',
          reason: `${route.method} ${route.path} is public by design (${route.function}): Stripe's redirect, or the liveness probe.`,
        });
      }
      // The stage's RouteSettings name routes by key: API Gateway refuses the stage if a
      // route it names does not exist yet, so the stage is created after every route.
      if (added) cfnStage.addResourceDependency(added.node.defaultChild as apigw.CfnRoute);
    }
    const missing = Object.keys(perRoute).filter(
      (key) => !routes.some((r) => `${r.method} ${r.path}` === key),
    );
    if (missing.length > 0)
      throw new Error(`RouteSettings name routes that do not exist: ${missing.join(', ')}`);
    this.monitoring = new Monitoring(this, 'Monitoring', {
      key: stateful.key,
      ...(settings.alarmEmail ? { alarmEmail: settings.alarmEmail } : {}),
      functions: this.functions,
      deadLetterQueues: {
        sync: this.syncQueue.deadLetterQueue,
        webhooks: this.webhookQueue.deadLetterQueue,
        'dispatch-failures': this.dispatchFailures,
      },
      // How long a message may wait before someone should look: a webhook within minutes,
      // a sync behind a nightly fan-out of every connection within a few hours.
      workQueues: {
        sync: { queue: this.syncQueue.queue, maxAge: Duration.hours(3) },
        webhooks: { queue: this.webhookQueue.queue, maxAge: Duration.minutes(15) },
      },
      api: this.api,
    });

    new CfnOutput(this, 'ApiUrl', { value: domain ? `${publicBase}/` : stage.url });
    new CfnOutput(this, 'OAuthRedirectUri', {
      value: redirectUri,
      description: "Must be in the Stripe app manifest's allowed_redirect_uris (stripe-app.json), exactly",
    });
    if (domain) {
      new CfnOutput(this, 'ApiDomainTarget', {
        value: domain.regionalDomainName,
        description: `Point ${settings.domainName} here: a CNAME, or a Route 53 alias (ApiDomainHostedZoneId)`,
      });
      new CfnOutput(this, 'ApiDomainHostedZoneId', { value: domain.regionalHostedZoneId });
    }
  }
}
