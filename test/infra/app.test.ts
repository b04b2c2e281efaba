import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { DEFAULT_SETTINGS } from '../../infra/settings.js';
import { routes } from '../../shared/http/routes.js';
import { synthApp } from '../support/synth.js';

jest.setTimeout(120_000);

// Synthesis runs cdk-nag over the whole app and throws on any unacknowledged finding.
const synthed = synthApp();

describe('stateful stack', () => {
  const stateful = synthed.statefulTemplate;

  it('keeps both tables: on-demand, KMS-encrypted with the service key, PITR, deletion protection, retained', () => {
    stateful.resourceCountIs('AWS::DynamoDB::Table', 2);
    const tables = stateful.findResources('AWS::DynamoDB::Table');
    for (const table of Object.values(tables)) {
      expect(table).toMatchObject({ DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
      expect(table.Properties).toMatchObject({
        BillingMode: 'PAY_PER_REQUEST',
        DeletionProtectionEnabled: true,
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        SSESpecification: { SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: expect.anything() },
      });
    }
  });

  it('expires OAuth states and ledger entries by TTL on the service table, and has the status and due-work indexes', () => {
    stateful.hasResourceProperties('AWS::DynamoDB::Table', {
      TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
      GlobalSecondaryIndexes: [
        Match.objectLike({ IndexName: 'gsi1' }),
        // Keys and the org only, so a status update writes nothing to it.
        Match.objectLike({
          IndexName: 'gsi2',
          Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: ['orgId'] },
        }),
      ],
    });
  });

  it('expires only items that carry a ttl on the records table (a full re-sync’s seen items; records carry none)', () => {
    const tables = Object.values(stateful.findResources('AWS::DynamoDB::Table'));
    expect(tables).toHaveLength(2);
    for (const table of tables)
      expect(table.Properties.TimeToLiveSpecification).toEqual({ AttributeName: 'ttl', Enabled: true });
  });

  it('creates the app-credentials and webhook-secrets secrets holding no credential, encrypted and retained', () => {
    const secrets = Object.values(stateful.findResources('AWS::SecretsManager::Secret'));
    expect(secrets).toHaveLength(2);
    for (const secret of secrets) {
      expect(secret.DeletionPolicy).toBe('Retain');
      expect(secret.Properties.SecretString).toBeUndefined();
      expect(secret.Properties.KmsKeyId).toBeDefined();
      const template = JSON.parse(secret.Properties.GenerateSecretString.SecretStringTemplate);
      // Only the empty shape the operators fill in: no key, no signing secret.
      expect([{ secretKeys: {} }, { webhookSecrets: [] }]).toContainEqual(template);
      expect(secret.Properties.Description).toMatch(/JSON: \{"(secretKeys|webhookSecrets)"/);
    }
  });

  it('rotates the service key and retains it', () => {
    stateful.hasResource('AWS::KMS::Key', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({ EnableKeyRotation: true }),
    });
  });
});

describe('service stack', () => {
  const service = synthed.serviceTemplate;

  it('runs every function on nodejs22.x, arm64, untraced (nothing is instrumented), with its own log group', () => {
    const functions = Object.entries(service.findResources('AWS::Lambda::Function'));
    expect(functions.length).toBeGreaterThan(0);
    for (const [id, fn] of functions) {
      expect(fn.Properties).toMatchObject({
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        LoggingConfig: { LogGroup: expect.anything() },
        // The health check loads no Powertools, so it gets no logger settings (and, behind
        // API Gateway, no source maps: no environment at all).
        ...(id.startsWith('Health')
          ? {}
          : {
              Environment: {
                Variables: expect.objectContaining({ POWERTOOLS_SERVICE_NAME: 'stripe-connector' }),
              },
            }),
      });
    }
    service.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
  });

  it('loads source maps in the functions no caller waits on, not in those behind API Gateway (a cold start a caller waits for)', () => {
    const roles = service.findResources('AWS::IAM::Role');
    const http = new Set<string>(routes.map((route) => route.function));
    const seen = { http: 0, other: 0 };
    for (const fn of Object.values(service.findResources('AWS::Lambda::Function'))) {
      const roleId = (fn.Properties.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
      const name = String(roles[roleId]?.Properties.Description).match(/^Runs the (\S+) function$/)?.[1];
      if (!name) continue; // a construct's own function (CDK's log retention, custom resources)
      const options = fn.Properties.Environment?.Variables?.NODE_OPTIONS;
      if (http.has(name)) {
        expect({ name, options }).toEqual({ name, options: undefined });
        seen.http++;
      } else {
        expect({ name, options }).toEqual({ name, options: '--enable-source-maps' });
        seen.other++;
      }
    }
    expect(seen.http).toBe(http.size);
    expect(seen.other).toBeGreaterThanOrEqual(3);
  });

  it('gives no function a managed policy or a wildcard resource', () => {
    for (const role of Object.values(service.findResources('AWS::IAM::Role'))) {
      expect(role.Properties.ManagedPolicyArns).toBeUndefined();
    }
    for (const policy of Object.values(service.findResources('AWS::IAM::Policy'))) {
      for (const statement of policy.Properties.PolicyDocument.Statement) {
        expect(statement.Resource).not.toBe('*');
      }
    }
  });

  it('serves exactly the routes in shared/http/routes.ts, with access logs that omit query strings', () => {
    const keys = Object.values(service.findResources('AWS::ApiGatewayV2::Route')).map(
      (r) => r.Properties.RouteKey,
    );
    expect(keys.sort()).toEqual(routes.map((r) => `${r.method} ${r.path}`).sort());
    const [stage] = Object.values(service.findResources('AWS::ApiGatewayV2::Stage'));
    const format = stage?.Properties.AccessLogSettings.Format as string;
    expect(format).toContain('$context.requestId');
    expect(format).not.toMatch(/querystring|\$context\.path|requestOverride/i);
    expect(stage?.Properties.DefaultRouteSettings).toMatchObject({
      ThrottlingRateLimit: 50,
      ThrottlingBurstLimit: 100,
    });
  });

  it('has one function per folder in functions/, and no other', () => {
    const root = join(__dirname, '..', '..', 'functions');
    const folders = readdirSync(root).filter((name) => statSync(join(root, name)).isDirectory());
    const entries = Object.values(synthed.service.functions).map((f) => f.entryName);
    expect(entries.sort()).toEqual(folders.sort());
    expect(Object.keys(service.findResources('AWS::Lambda::Function'))).toHaveLength(folders.length);
  });
});

/** Every statement of the function's role, by the ServiceFunction's construct id. */
function statementsOf(template: typeof synthed.serviceTemplate, id: string) {
  const functions = template.findResources('AWS::Lambda::Function');
  const [fnId, fn] =
    Object.entries(functions).find(([logicalId]) => logicalId.startsWith(`${id}Function`)) ?? [];
  if (!fn) throw new Error(`no function ${id} (have ${Object.keys(functions).join(', ')})`);
  const roleId = fn.Properties.Role['Fn::GetAtt'][0] as string;
  const policies = Object.values(template.findResources('AWS::IAM::Policy')).filter((p) =>
    (p.Properties.Roles as Array<{ Ref: string }>).some((r) => r.Ref === roleId),
  );
  expect(fnId).toBeDefined();
  return policies.flatMap((p) => p.Properties.PolicyDocument.Statement) as Array<{
    Action: string | string[];
    Resource: unknown;
    Condition?: unknown;
  }>;
}
const actionsOf = (statements: Array<{ Action: string | string[] }>) =>
  statements.flatMap((s) => [s.Action].flat());

describe('least privilege per function', () => {
  const service = synthed.serviceTemplate;

  it('status reads the table and touches no secret', () => {
    const actions = actionsOf(statementsOf(service, 'Status'));
    expect(actions.some((a) => a.startsWith('secretsmanager:'))).toBe(false);
    expect(actions).toEqual(expect.arrayContaining(['dynamodb:GetItem', 'dynamodb:Query']));
    expect(
      actions.some((a) => ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'].includes(a)),
    ).toBe(false);
  });

  it('connect-start writes OAuth states and touches no secret', () => {
    const actions = actionsOf(statementsOf(service, 'ConnectStart'));
    expect(actions.some((a) => a.startsWith('secretsmanager:'))).toBe(false);
    expect(actions).toContain('dynamodb:PutItem');
  });

  it('the callback only creates connection secrets by prefix and reads the app credentials; it queues nothing', () => {
    const statements = statementsOf(service, 'OAuthCallback');
    const secrets = statements.filter((s) => actionsOf([s]).some((a) => a.startsWith('secretsmanager:')));
    const byPrefix = secrets.find((s) => actionsOf([s]).includes('secretsmanager:CreateSecret'));
    expect(actionsOf([byPrefix as never]).sort()).toEqual([
      'secretsmanager:CreateSecret',
      'secretsmanager:TagResource',
    ]);
    expect(JSON.stringify(byPrefix?.Resource)).toContain('secret:defrr/stripe/dev/connections/*');
    const read = secrets.find((s) => actionsOf([s]).includes('secretsmanager:GetSecretValue'));
    expect(JSON.stringify(read?.Resource)).toContain('AppCredentials');
    expect(JSON.stringify(read?.Resource)).not.toContain('*');
    expect(actionsOf(statements).filter((a) => a.startsWith('sqs:'))).toEqual([]);
  });

  it('the confirmation may only delete connection secrets (a replaced one) and send to the sync queue', () => {
    const statements = statementsOf(service, 'ConnectConfirm');
    expect(actionsOf(statements).filter((a) => a.startsWith('secretsmanager:'))).toEqual([
      'secretsmanager:DeleteSecret',
    ]);
    const sqs = statements.filter((s) => actionsOf([s]).some((a) => a.startsWith('sqs:')));
    expect(actionsOf(sqs)).toEqual(['sqs:SendMessage']);
    expect(JSON.stringify(sqs[0]?.Resource)).toContain('SyncQueue');
  });

  it('runs the sweep every 5 minutes on the dispatcher, and the nightly fan-out on its schedule', () => {
    const rules = Object.values(service.findResources('AWS::Events::Rule'));
    const sweep = rules.find((r) => r.Properties.ScheduleExpression === 'rate(5 minutes)');
    expect(JSON.parse(sweep?.Properties.Targets[0].Input)).toEqual({ action: 'sweep' });
    expect(JSON.stringify(sweep?.Properties.Targets[0].Arn)).toContain('SyncDispatcher');
    const dispatcher = statementsOf(service, 'SyncDispatcher');
    expect(actionsOf(dispatcher).filter((a) => a.startsWith('secretsmanager:'))).toEqual([
      'secretsmanager:DeleteSecret',
    ]);
  });

  it('disconnect may only delete connection secrets', () => {
    const actions = actionsOf(statementsOf(service, 'Disconnect')).filter((a) =>
      a.startsWith('secretsmanager:'),
    );
    expect(actions).toEqual(['secretsmanager:DeleteSecret']);
  });

  it('the webhook intake reads only the webhook signing secrets and may only send to its queue', () => {
    const statements = statementsOf(service, 'WebhookIntake');
    const actions = actionsOf(statements).filter(
      (a) => !a.startsWith('logs:') && !a.startsWith('xray:') && !a.startsWith('kms:'),
    );
    expect(actions.sort()).toEqual(['secretsmanager:GetSecretValue', 'sqs:SendMessage']);
    const secret = statements.find((s) => actionsOf([s]).includes('secretsmanager:GetSecretValue'));
    expect(JSON.stringify(secret?.Resource)).toContain('WebhookSecrets');
    expect(JSON.stringify(secret?.Resource)).not.toContain('AppCredentials');
    const send = statements.find((s) => actionsOf([s]).includes('sqs:SendMessage'));
    expect(JSON.stringify(send?.Resource)).toContain('WebhookQueue');
  });

  it('consumes the webhook queue with partial batch failures and a maximum concurrency', () => {
    service.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ScalingConfig: { MaximumConcurrency: 5 },
      BatchSize: 10,
    });
  });

  it('runs the dispatcher on the nightly schedule from settings', () => {
    service.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'cron(0 3 * * ? *)',
      Targets: [
        Match.objectLike({
          Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^SyncDispatcherFunction'), 'Arn'] },
        }),
      ],
    });
  });

  it('the sync worker holds tokens (read, write, delete) and publishes only to its bus', () => {
    const statements = statementsOf(service, 'SyncWorker');
    const secretActions = actionsOf(statements).filter((a) => a.startsWith('secretsmanager:'));
    expect(secretActions.sort()).toEqual([
      'secretsmanager:DeleteSecret',
      'secretsmanager:GetSecretValue',
      'secretsmanager:GetSecretValue',
      'secretsmanager:PutSecretValue',
    ]);
    const put = statements.find((s) => actionsOf([s]).includes('events:PutEvents'));
    expect(JSON.stringify(put?.Resource)).toContain('EventBus');
    service.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      BatchSize: 1,
      // The shipped syncConcurrency: 100,000 connections' nightly runs within the hour.
      ScalingConfig: { MaximumConcurrency: DEFAULT_SETTINGS.syncConcurrency },
    });
    expect(DEFAULT_SETTINGS.syncConcurrency).toBe(60);
  });

  it('lets only the dispatcher query the status index', () => {
    for (const id of [
      'Status',
      'ConnectStart',
      'OAuthCallback',
      'Disconnect',
      'SyncWorker',
      'SyncRequest',
      'WebhookProcessor',
    ]) {
      expect(JSON.stringify(statementsOf(service, id))).not.toContain('/index/');
    }
    expect(JSON.stringify(statementsOf(service, 'SyncDispatcher'))).toContain('/index/gsi1');
  });

  it('uses the KMS key only through the AWS service that needs it', () => {
    for (const id of ['Status', 'ConnectStart', 'OAuthCallback', 'Disconnect', 'WebhookIntake']) {
      for (const statement of statementsOf(service, id).filter((s) =>
        actionsOf([s]).some((a) => a.startsWith('kms:')),
      )) {
        const via = JSON.stringify(
          (statement.Condition as { StringEquals: Record<string, unknown> }).StringEquals['kms:ViaService'],
        );
        expect(via).toMatch(/"(dynamodb|secretsmanager|sqs)\.",\{"Ref":"AWS::Region"\},"\.amazonaws\.com"/);
        expect(actionsOf([statement]).every((a) => !a.includes('*'))).toBe(true);
      }
    }
  });

  it('puts the JWT authorizer on the org routes and not on the public ones', () => {
    const routesByKey = Object.fromEntries(
      Object.values(service.findResources('AWS::ApiGatewayV2::Route')).map((r) => [
        r.Properties.RouteKey,
        r.Properties,
      ]),
    );
    for (const route of routes) {
      const props = routesByKey[`${route.method} ${route.path}`];
      if (route.auth === 'jwt')
        expect(props).toMatchObject({ AuthorizationType: 'JWT', AuthorizerId: expect.anything() });
      else expect(props.AuthorizationType ?? 'NONE').toBe('NONE');
    }
    service.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
      AuthorizerType: 'JWT',
      JwtConfiguration: { Issuer: 'https://auth.dev.defrr.example/', Audience: ['defrr-stripe-connector'] },
    });
    service.hasResourceProperties('AWS::ApiGatewayV2::Api', {
      CorsConfiguration: Match.objectLike({ AllowOrigins: ['https://app.dev.defrr.example'] }),
    });
  });

  it('gives every queue a dead-letter queue, KMS encryption, TLS only, and a visibility timeout above its consumer’s', () => {
    const queues = service.findResources('AWS::SQS::Queue');
    const deadLetterIds = new Set(
      Object.values(queues)
        .map(
          (q) => q.Properties.RedrivePolicy?.deadLetterTargetArn?.['Fn::GetAtt']?.[0] as string | undefined,
        )
        .filter(Boolean),
    );
    // The dispatch-failures queue is itself a dead-letter queue (EventBridge's and Lambda's).
    const workQueues = Object.entries(queues).filter(
      ([id]) => !deadLetterIds.has(id) && !id.startsWith('DispatchFailures'),
    );
    expect(workQueues.map(([id]) => id).sort()).toEqual([
      expect.stringMatching(/^SyncQueue/),
      expect.stringMatching(/^WebhookQueue/),
    ]);
    for (const [, queue] of workQueues)
      expect(queue.Properties.RedrivePolicy.maxReceiveCount).toBeGreaterThan(1);
    // Customer data (events, sync jobs) under the service key; schedule failures under SQS's own key.
    for (const [id, queue] of Object.entries(queues)) {
      if (id.startsWith('DispatchFailures')) expect(queue.Properties.SqsManagedSseEnabled).toBe(true);
      else expect(queue.Properties.KmsMasterKeyId).toBeDefined();
    }
    expect(Object.keys(service.findResources('AWS::SQS::QueuePolicy')).length).toBe(
      Object.keys(queues).length,
    );
    const timeouts = Object.fromEntries(
      Object.entries(service.findResources('AWS::Lambda::Function')).map(([id, fn]) => [
        id.replace(/Function.*$/, ''),
        fn.Properties.Timeout as number,
      ]),
    );
    const visibility = (prefix: string) =>
      workQueues.find(([id]) => id.startsWith(prefix))?.[1].Properties.VisibilityTimeout as number;
    expect(visibility('SyncQueue')).toBeGreaterThan(timeouts.SyncWorker as number);
    expect(visibility('WebhookQueue')).toBeGreaterThan(timeouts.WebhookProcessor as number);
    // The worker parses and writes on one thread: one full vCPU, which Lambda gives at 1,769 MB.
    const memory = Object.entries(service.findResources('AWS::Lambda::Function')).find(([id]) =>
      id.startsWith('SyncWorker'),
    )?.[1].Properties.MemorySize;
    expect(memory).toBe(1769);
  });

  it('alarms on each dead-letter queue, every function’s errors and throttles, and the service’s own failures, to an encrypted topic', () => {
    const alarms = Object.values(service.findResources('AWS::CloudWatch::Alarm'));
    const names = alarms.map((a) => JSON.stringify(a.Properties.AlarmName));
    expect(names.filter((n) => n.includes('dead-letters'))).toHaveLength(3);
    const functionCount = Object.keys(service.findResources('AWS::Lambda::Function')).length;
    expect(names.filter((n) => n.endsWith('-errors"'))).toHaveLength(functionCount);
    expect(names.filter((n) => n.endsWith('-throttles"'))).toHaveLength(functionCount);
    for (const metric of ['WebhookSignatureFailures', 'SyncFailures', 'TokenRefreshFailures']) {
      service.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: metric,
        Namespace: 'Defrr/StripeConnector',
      });
    }
    for (const alarm of alarms) expect(alarm.Properties.AlarmActions).toHaveLength(1);
    service.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
  });

  it('throttles the API by default and tighter per route', () => {
    const [stage] = Object.values(service.findResources('AWS::ApiGatewayV2::Stage'));
    expect(stage?.Properties.RouteSettings['POST /v1/integrations/stripe/connect']).toEqual({
      ThrottlingRateLimit: 5,
      ThrottlingBurstLimit: 10,
    });
    expect(stage?.Properties.RouteSettings['POST /v1/integrations/stripe/sync']).toBeDefined();
    for (const key of Object.keys(stage?.Properties.RouteSettings ?? {})) {
      expect(routes.map((r) => `${r.method} ${r.path}`)).toContain(key);
    }
  });
});

describe('cdk-nag', () => {
  it('fails synthesis on an unacknowledged finding (so the suite fails on one)', () => {
    const app = new App();
    const stack = new Stack(app, 'Nagged');
    new sqs.Queue(stack, 'Plain', { encryption: sqs.QueueEncryption.UNENCRYPTED });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    expect(() => app.synth()).toThrow(/AwsSolutions-SQS2/);
  });
});

describe('npm run synth and settings', () => {
  it('writes both templates offline, with no Docker', () => {
    const { execFileSync } = require('node:child_process') as typeof import('node:child_process');
    const { mkdtempSync, existsSync } = require('node:fs') as typeof import('node:fs');
    const out = mkdtempSync(join(require('node:os').tmpdir(), 'synth-'));
    const root = join(__dirname, '..', '..');
    const printed = execFileSync(join(root, 'node_modules', '.bin', 'tsx'), ['infra/synth.ts'], {
      cwd: root,
      env: {
        ...process.env,
        CDK_OUTDIR: out,
        DOCKER_HOST: 'unix:///nonexistent.sock',
        PATH: process.env.PATH ?? '',
      },
    }).toString();
    expect(printed).toContain('DefrrStripe-dev-Service');
    expect(existsSync(join(out, 'DefrrStripe-dev-Stateful.template.json'))).toBe(true);
    expect(existsSync(join(out, 'DefrrStripe-dev-Service.template.json'))).toBe(true);
  });

  it('refuses an invalid setting by name', () => {
    const { readSettings } = require('../../infra/settings.js') as typeof import('../../infra/settings.js');
    // Nothing given: the dev stage, with its placeholders.
    expect(readSettings(() => undefined, {}).stage).toBe('dev');
    expect(() => readSettings(() => undefined, { STAGE: 'Prod!' })).toThrow(
      /stage \(context 'stage' or STAGE\)/,
    );
    expect(() => readSettings((k) => ({ stage: 'Prod!', logRetentionDays: 30 })[k], {})).toThrow(/stage/);
  });
});
