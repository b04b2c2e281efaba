import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import type * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import { buildApp } from '../../infra/app.js';
import { ServiceFunction } from '../../infra/constructs/service-function.js';
import {
  DEFAULT_RESERVED_CONCURRENCY,
  DEV_PLACEHOLDERS,
  isPlaceholder,
  readSettings,
} from '../../infra/settings.js';
import { APP_MANIFEST } from '../../local/stripe-sandbox/app-manifest.js';
import { routes } from '../../shared/http/routes.js';
import { cdkContext, PROD_CONTEXT, synthApp } from '../support/synth.js';

jest.setTimeout(180_000);

// What a first deploy needs to succeed, and what an AWS reviewer asks for (issue 16).
const dev = synthApp();
const service = dev.serviceTemplate;
const stateful = dev.statefulTemplate;

type Statement = { Action: string | string[]; Resource: unknown; Condition?: Record<string, unknown> };
const actionsOf = (s: Statement) => [s.Action].flat();

/** Every statement of every function role, by the function's logical id. */
function roleStatements(template: Template): Map<string, Statement[]> {
  const functions = template.findResources('AWS::Lambda::Function');
  const policies = Object.values(template.findResources('AWS::IAM::Policy'));
  const byFunction = new Map<string, Statement[]>();
  for (const [id, fn] of Object.entries(functions)) {
    const roleId = fn.Properties.Role['Fn::GetAtt'][0] as string;
    byFunction.set(
      id,
      policies
        .filter((p) => (p.Properties.Roles as Array<{ Ref: string }>).some((r) => r.Ref === roleId))
        .flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[]),
    );
  }
  return byFunction;
}
const functionId = (template: Template, prefix: string) => {
  const id = Object.keys(template.findResources('AWS::Lambda::Function')).find((k) =>
    k.startsWith(`${prefix}Function`),
  );
  if (!id) throw new Error(`no function ${prefix}`);
  return id;
};

describe('a first deploy that works', () => {
  it('creates the API stage after every route, so its RouteSettings name routes that exist', () => {
    const routeIds = Object.entries(service.findResources('AWS::ApiGatewayV2::Route'));
    const [stage] = Object.values(service.findResources('AWS::ApiGatewayV2::Stage'));
    const dependsOn = new Set([stage?.DependsOn ?? []].flat() as string[]);
    for (const [id] of routeIds) expect(dependsOn.has(id)).toBe(true);
    const keys = routeIds.map(([, r]) => r.Properties.RouteKey as string);
    const settings = Object.keys(stage?.Properties.RouteSettings ?? {});
    expect(settings.length).toBeGreaterThan(0);
    for (const key of settings) expect(keys).toContain(key);
    expect(keys.sort()).toEqual(routes.map((r) => `${r.method} ${r.path}`).sort());
  });

  it('names every secret an operator must fill as an output of the stateful stack', () => {
    const outputs = stateful.toJSON().Outputs as Record<string, { Value: unknown; Description?: string }>;
    expect(outputs.AppCredentialsSecretName?.Value).toBe('defrr/stripe/dev/app-credentials');
    expect(outputs.WebhookSecretsSecretName?.Value).toBe('defrr/stripe/dev/webhook-secrets');
    const names = Object.values(stateful.findResources('AWS::SecretsManager::Secret')).map(
      (s) => s.Properties.Name,
    );
    expect(names.sort()).toEqual(['defrr/stripe/dev/app-credentials', 'defrr/stripe/dev/webhook-secrets']);
    // And the functions read exactly those: the intake the webhook secrets, never the app keys.
    const vars = (prefix: string) =>
      service.findResources('AWS::Lambda::Function')[functionId(service, prefix)]?.Properties.Environment
        .Variables as Record<string, unknown>;
    expect(JSON.stringify(vars('WebhookIntake').WEBHOOK_SECRETS_SECRET_ID)).toContain('WebhookSecrets');
    expect(vars('WebhookIntake').APP_CREDENTIALS_SECRET_ID).toBeUndefined();
    expect(JSON.stringify(vars('OAuthCallback').APP_CREDENTIALS_SECRET_ID)).toContain('AppCredentials');
  });

  it('lets a function that creates or writes connection secrets use the key as Secrets Manager needs (GenerateDataKey and Decrypt), from that binding alone', () => {
    for (const actions of [['create'], ['write'], ['read'], ['delete']] as const) {
      const stack = new Stack(new App(), 'Binding');
      const key = new kms.Key(stack, 'Key');
      const fn = new ServiceFunction(stack, 'Fn', {
        name: 'health',
        serviceName: 'stripe-connector',
        logRetentionDays: 30,
        logKey: key,
      }).bindConnectionSecrets('defrr/stripe/dev/connections/', key, [...actions]);
      const statements = Stack.of(fn).resolve(
        (fn.role.node.tryFindChild('DefaultPolicy') as iam.Policy).document,
      ).Statement as Statement[];
      const viaSecrets = statements
        .filter((st) => JSON.stringify(st.Condition ?? {}).includes('"secretsmanager."'))
        .flatMap(actionsOf)
        .sort();
      const expected =
        actions[0] === 'create' || actions[0] === 'write'
          ? ['kms:Decrypt', 'kms:GenerateDataKey']
          : actions[0] === 'read'
            ? ['kms:Decrypt']
            : [];
      expect([actions[0], viaSecrets]).toEqual([actions[0], expected]);
    }
  });

  it('refuses placeholders and local values in any stage but dev, naming each', () => {
    const context: Record<string, unknown> = {
      ...DEV_PLACEHOLDERS,
      stage: 'prod',
      alarmEmail: 'oncall@defrr.com',
    };
    const attempt = () => readSettings((k) => context[k], {});
    expect(attempt).toThrow(/stripeClientId .*placeholder/);
    expect(attempt).toThrow(/stripeAuthorizeUrlTest .*placeholder/);
    expect(attempt).toThrow(/frontendOrigins .*placeholder/);
    expect(attempt).toThrow(/jwtIssuer .*placeholder/);
    // dev keeps them; real values pass in any stage.
    expect(readSettings(() => undefined, {}).stripeClientId).toBe(DEV_PLACEHOLDERS.stripeClientId);
    expect(readSettings((k) => PROD_CONTEXT[k], {}).stage).toBe('prod');
  });

  it.each([
    ['ca_…', true],
    ['https://marketplace.stripe.com/oauth/v2/chnlink_…/authorize', true],
    ['https://marketplace.stripe.com/oauth/v2/chnlink_.../authorize', true],
    ['ca_CHANGEME', true],
    ['ca_<your client id>', true],
    ['http://localhost:3000/', true],
    ['https://127.0.0.1/', true],
    ['https://auth.dev.defrr.example/', true],
    ['oncall@example.com', true],
    ['https://app.example.org/x', true],
    ['replacement-api', false],
    ['https://auth.defrr.com/example/', false],
    ['example', false],
    ['https://app.defrr.com', false],
    ['ca_QmRkW2fGx7Lr4pVn9sT3', false],
    ['oncall@defrr.com', false],
  ])('tells a placeholder or local value (%s: %s)', (value, expected) => {
    expect(isPlaceholder(value)).toBe(expected);
  });

  it('lets the environment give a stage its settings (STAGE, STRIPE_CLIENT_ID, …), and -c context win over it', () => {
    const env = {
      STAGE: 'prod',
      FRONTEND_ORIGINS: 'https://app.defrr.com',
      JWT_ISSUER: 'https://auth.defrr.com/',
      STRIPE_CLIENT_ID: 'ca_QmRkW2fGx7Lr4pVn9sT3',
      STRIPE_DEFAULT_MODE: 'live',
      ALARM_EMAIL: 'oncall@defrr.com',
    };
    const fromEnv = readSettings(() => undefined, env);
    expect(fromEnv).toMatchObject({ stage: 'prod', stripeClientId: 'ca_QmRkW2fGx7Lr4pVn9sT3' });
    // Outside dev nothing falls back to the dev placeholders: an unset value is missing.
    const { FRONTEND_ORIGINS: _, ...withoutOrigins } = env;
    expect(() => readSettings(() => undefined, withoutOrigins)).toThrow(/frontendOrigins .*FRONTEND_ORIGINS/);
    expect(readSettings((k) => ({ stage: 'staging' })[k], env).stage).toBe('staging');
  });

  it('requires an alarm subscription outside dev', () => {
    const { alarmEmail: _, ...withoutEmail } = PROD_CONTEXT;
    expect(() => readSettings((k) => (withoutEmail as Record<string, unknown>)[k], {})).toThrow(
      /alarmEmail .*required outside the dev stage/,
    );
  });
});

describe('hardening', () => {
  it('uses the service key, in every function, only through the AWS service that needs it', () => {
    for (const [id, statements] of roleStatements(service)) {
      const kms = statements.filter((s) => actionsOf(s).some((a) => a.startsWith('kms:')));
      for (const statement of kms) {
        const via = JSON.stringify(
          (statement.Condition?.StringEquals as Record<string, unknown> | undefined)?.['kms:ViaService'],
        );
        expect([id, via]).toEqual([
          id,
          expect.stringMatching(
            /"(dynamodb|secretsmanager|sqs)\.",\{"Ref":"AWS::Region"\},"\.amazonaws\.com"/,
          ),
        ]);
      }
    }
    // The queue consumers decrypt through SQS only, and may receive and delete.
    for (const prefix of ['WebhookProcessor', 'SyncWorker']) {
      const statements = roleStatements(service).get(functionId(service, prefix)) ?? [];
      expect(statements.flatMap(actionsOf)).toEqual(
        expect.arrayContaining(['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility']),
      );
    }
  });

  it('lets CloudWatch use the key only for this account’s alarms of this service, and Logs only for log groups', () => {
    const [key] = Object.values(stateful.findResources('AWS::KMS::Key'));
    const statements = key?.Properties.KeyPolicy.Statement as Array<{
      Principal: { Service?: unknown };
      Condition?: Record<string, Record<string, unknown>>;
    }>;
    const cloudwatch = statements.find((s) => s.Principal.Service === 'cloudwatch.amazonaws.com');
    expect(cloudwatch?.Condition?.StringEquals?.['aws:SourceAccount']).toEqual({ Ref: 'AWS::AccountId' });
    expect(JSON.stringify(cloudwatch?.Condition?.ArnLike?.['aws:SourceArn'])).toContain(
      ':alarm:DefrrStripe-dev-Service-*',
    );
    const logs = statements.find((s) => String(JSON.stringify(s.Principal.Service)).includes('logs.'));
    expect(JSON.stringify(logs?.Condition?.ArnLike?.['kms:EncryptionContext:aws:logs:arn'])).toContain(
      ':log-group:*',
    );
    // Every alarm is named after the service stack, so the condition covers each of them.
    for (const alarm of Object.values(service.findResources('AWS::CloudWatch::Alarm')))
      expect(JSON.stringify(alarm.Properties.AlarmName)).toMatch(/^"DefrrStripe-dev-Service-/);
  });

  it('reserves concurrency for every function by default, within what an account of 1,000 can give', () => {
    const functions = service.findResources('AWS::Lambda::Function');
    const total = Object.values(DEFAULT_RESERVED_CONCURRENCY).reduce((a, b) => a + b, 0);
    expect(total).toBeLessThanOrEqual(900);
    expect(Object.keys(DEFAULT_RESERVED_CONCURRENCY).sort()).toEqual(
      Object.keys(dev.service.functions).sort(),
    );
    for (const [name, fn] of Object.entries(dev.service.functions)) {
      const logicalId = dev.service.resolve((fn.fn.node.defaultChild as CfnFunction).logicalId);
      expect(functions[logicalId]?.Properties.ReservedConcurrentExecutions).toBe(
        DEFAULT_RESERVED_CONCURRENCY[name as keyof typeof DEFAULT_RESERVED_CONCURRENCY],
      );
    }
    // A queue consumer gets at least its event source's maximum concurrency.
    for (const mapping of Object.values(service.findResources('AWS::Lambda::EventSourceMapping'))) {
      const fnId = mapping.Properties.FunctionName.Ref as string;
      expect(functions[fnId]?.Properties.ReservedConcurrentExecutions).toBeGreaterThanOrEqual(
        mapping.Properties.ScalingConfig.MaximumConcurrency,
      );
    }
  });

  it('takes reserved concurrency from settings: some overridden, or off', () => {
    const tuned = synthApp({ reservedConcurrency: 'webhook-intake=60,status=5' }, { bundle: false });
    const values = (t: Template) =>
      Object.fromEntries(
        Object.entries(t.findResources('AWS::Lambda::Function')).map(([id, fn]) => [
          id.replace(/Function[0-9A-F]+$/, ''),
          fn.Properties.ReservedConcurrentExecutions,
        ]),
      );
    expect(values(tuned.serviceTemplate)).toMatchObject({ WebhookIntake: 60, Status: 5, OAuthCallback: 10 });
    const off = synthApp({ reservedConcurrency: 'off' }, { bundle: false });
    expect(Object.values(values(off.serviceTemplate)).every((v) => v === undefined)).toBe(true);
    expect(() => synthApp({ reservedConcurrency: 'webhook-intak=60' }, { bundle: false })).toThrow(
      /reservedConcurrency .*no function webhook-intak/,
    );
    expect(() => readSettings((k) => ({ reservedConcurrency: 'webhook-intake=0' })[k], {})).toThrow(
      /reservedConcurrency/,
    );
    expect(() => readSettings((k) => ({ reservedConcurrency: { status: 5000 } })[k], {})).toThrow(
      /reservedConcurrency/,
    );
    // A queue consumer below its event source's maximum concurrency would be throttled by it.
    expect(() => readSettings((k) => ({ reservedConcurrency: 'sync-worker=1' })[k], {})).toThrow(
      /sync-worker=1 is below its queue's maximum concurrency \(60\)/,
    );
  });

  it('runs as many syncs at once as `syncConcurrency` says (the nightly window), and reserves as much for them', () => {
    const sized = (t: Template) => {
      const functions = t.findResources('AWS::Lambda::Function');
      const [mapping] = Object.values(t.findResources('AWS::Lambda::EventSourceMapping')).filter((m) =>
        /SyncWorker/.test(m.Properties.FunctionName.Ref as string),
      );
      return {
        maximum: mapping?.Properties.ScalingConfig.MaximumConcurrency,
        reserved:
          functions[mapping?.Properties.FunctionName.Ref as string]?.Properties.ReservedConcurrentExecutions,
      };
    };
    expect(sized(service)).toEqual({ maximum: 60, reserved: 60 });
    expect(sized(synthApp({ syncConcurrency: '150' }, { bundle: false }).serviceTemplate)).toEqual({
      maximum: 150,
      reserved: 150,
    });
    // Reserved concurrency named for the worker wins, and may not be below the queue's maximum.
    expect(
      sized(
        synthApp({ syncConcurrency: '40', reservedConcurrency: 'sync-worker=80' }, { bundle: false })
          .serviceTemplate,
      ),
    ).toEqual({ maximum: 40, reserved: 80 });
    expect(() =>
      readSettings((k) => ({ syncConcurrency: '100', reservedConcurrency: 'sync-worker=50' })[k], {}),
    ).toThrow(/sync-worker=50 is below its queue's maximum concurrency \(100\)/);
    expect(() => readSettings((k) => ({ syncConcurrency: '0' })[k], {})).toThrow(/syncConcurrency/);
  });

  it('shares a large live backfill out among `syncFanOutWorkers` workers (8), or never (1)', () => {
    const workers = (t: Template) => {
      const [worker] = Object.values(t.findResources('AWS::Lambda::Function')).filter(
        (f) => f.Properties.Environment?.Variables?.SYNC_QUEUE_URL && f.Properties.Timeout === 900,
      );
      return worker?.Properties.Environment.Variables.SYNC_FANOUT_WORKERS;
    };
    expect(workers(service)).toBe('8');
    expect(workers(synthApp({ syncFanOutWorkers: '1' }, { bundle: false }).serviceTemplate)).toBe('1');
    expect(() => readSettings((k) => ({ syncFanOutWorkers: '0' })[k], {})).toThrow(/syncFanOutWorkers/);
    expect(() => readSettings((k) => ({ syncFanOutWorkers: '17' })[k], {})).toThrow(/syncFanOutWorkers/);
  });

  it('lets CloudWatch publish to the alarm topic (its own policy replaces SNS’s default), for this stack’s alarms only', () => {
    const [policy] = Object.values(service.findResources('AWS::SNS::TopicPolicy'));
    const statements = policy?.Properties.PolicyDocument.Statement as Array<Record<string, unknown>>;
    const allow = statements.find(
      (st) => st.Effect === 'Allow' && JSON.stringify(st.Principal).includes('cloudwatch.amazonaws.com'),
    );
    expect(allow?.Action).toBe('sns:Publish');
    expect(JSON.stringify(allow?.Condition)).toContain('aws:SourceAccount');
    expect(JSON.stringify(allow?.Condition)).toContain(':alarm:DefrrStripe-dev-Service-*');
  });

  it('alarms on each work queue’s oldest message and on the API’s 5xx answers', () => {
    for (const queue of ['SyncQueue', 'WebhookQueue']) {
      service.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: 'ApproximateAgeOfOldestMessage',
        Namespace: 'AWS/SQS',
        Dimensions: [
          { Name: 'QueueName', Value: { 'Fn::GetAtt': [Match.stringLikeRegexp(`^${queue}`), 'QueueName'] } },
        ],
      });
    }
    service.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: '5xx',
      Namespace: 'AWS/ApiGateway',
      Dimensions: [{ Name: 'ApiId', Value: { Ref: Match.stringLikeRegexp('^HttpApi') } }],
    });
    service.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'SecretNotConfigured',
      Namespace: 'Defrr/StripeConnector',
    });
  });

  it('puts a failed nightly fan-out where an alarm sees it: the targets’ dead-letter queue and the dispatcher’s on-failure destination', () => {
    const queues = service.findResources('AWS::SQS::Queue');
    const failuresId = Object.keys(queues).find((id) => id.startsWith('DispatchFailures'));
    expect(failuresId).toBeDefined();
    for (const rule of Object.values(service.findResources('AWS::Events::Rule'))) {
      for (const target of rule.Properties.Targets)
        expect(target.DeadLetterConfig).toEqual({ Arn: { 'Fn::GetAtt': [failuresId, 'Arn'] } });
    }
    service.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: Match.stringLikeRegexp('^SyncDispatcherFunction') },
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [failuresId, 'Arn'] } } },
    });
    service.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [failuresId, 'QueueName'] } }],
    });
    // EventBridge may send to it, from these rules only.
    const policy = Object.values(service.findResources('AWS::SQS::QueuePolicy')).find((p) =>
      JSON.stringify(p.Properties.Queues).includes(failuresId as string),
    );
    expect(JSON.stringify(policy?.Properties.PolicyDocument)).toContain('events.amazonaws.com');
  });

  it('traces nothing it does not instrument, and encrypts every log group with the service key', () => {
    for (const fn of Object.values(service.findResources('AWS::Lambda::Function')))
      expect(fn.Properties.TracingConfig?.Mode ?? 'PassThrough').toBe('PassThrough');
    for (const statements of roleStatements(service).values())
      expect(statements.flatMap(actionsOf).filter((a) => a.startsWith('xray:'))).toEqual([]);
    const groups = Object.values(service.findResources('AWS::Logs::LogGroup'));
    expect(groups.length).toBe(Object.keys(service.findResources('AWS::Lambda::Function')).length + 1);
    for (const group of groups) expect(JSON.stringify(group.Properties.KmsKeyId)).toContain('ServiceKey');
  });

  it('sets no connection-secret variables on functions that only delete secrets', () => {
    for (const prefix of ['ConnectConfirm', 'Disconnect', 'WebhookProcessor', 'SyncDispatcher']) {
      const vars =
        service.findResources('AWS::Lambda::Function')[functionId(service, prefix)]?.Properties.Environment
          .Variables;
      expect(Object.keys(vars)).not.toContain('KMS_KEY_ID');
      expect(Object.keys(vars)).not.toContain('TOKEN_SECRET_PREFIX');
    }
  });
});

describe('a custom domain', () => {
  const withDomain = synthApp(
    {
      domainName: 'stripe.defrr.com',
      certificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/0f6f8b8e-1111-4c3a-9d5e-2a1b3c4d5e6f',
    },
    { bundle: false },
  ).serviceTemplate;

  it('serves the API on it and makes the callback URL the domain’s, independent of the API’s id', () => {
    withDomain.hasResourceProperties('AWS::ApiGatewayV2::DomainName', {
      DomainName: 'stripe.defrr.com',
      DomainNameConfigurations: [Match.objectLike({ EndpointType: 'REGIONAL', SecurityPolicy: 'TLS_1_2' })],
    });
    withDomain.hasResourceProperties('AWS::ApiGatewayV2::ApiMapping', { Stage: '$default' });
    const outputs = withDomain.toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(outputs.OAuthRedirectUri?.Value).toBe('https://stripe.defrr.com/v1/integrations/stripe/callback');
    expect(outputs.ApiDomainTarget).toBeDefined();
    const connectStart = Object.entries(withDomain.findResources('AWS::Lambda::Function')).find(([id]) =>
      id.startsWith('ConnectStartFunction'),
    )?.[1];
    expect(connectStart?.Properties.Environment.Variables.OAUTH_REDIRECT_URI).toBe(
      'https://stripe.defrr.com/v1/integrations/stripe/callback',
    );
  });

  it("gives the callback URL the Stripe app manifest allows (stripe-app.json's allowed_redirect_uris)", () => {
    const outputs = withDomain.toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(APP_MANIFEST.allowed_redirect_uris).toContain(outputs.OAuthRedirectUri?.Value);
  });

  it('refuses a certificate from another region than the stack’s (a regional endpoint)', () => {
    const previous = process.env.CDK_DEFAULT_REGION;
    process.env.CDK_DEFAULT_REGION = 'us-east-1';
    try {
      expect(() =>
        buildApp(
          new App({
            context: {
              ...cdkContext(),
              'aws:cdk:bundling-stacks': [],
              domainName: 'stripe.defrr.com',
              certificateArn:
                'arn:aws:acm:eu-west-1:123456789012:certificate/0f6f8b8e-1111-4c3a-9d5e-2a1b3c4d5e6f',
            },
          }),
        ),
      ).toThrow(/certificateArn is in eu-west-1.*needs a certificate in us-east-1/);
    } finally {
      if (previous === undefined) delete process.env.CDK_DEFAULT_REGION;
      else process.env.CDK_DEFAULT_REGION = previous;
    }
  });

  it('needs both the name and the certificate', () => {
    expect(() => synthApp({ domainName: 'stripe.defrr.com' }, { bundle: false })).toThrow(
      /certificateArn .*both domainName and certificateArn/,
    );
  });
});

describe('cfn-lint', () => {
  /**
   * Warnings we accept, each with its reason. Anything else (any error, any other warning)
   * fails the test.
   */
  const IGNORED: Record<string, string> = {
    W3005:
      'CDK adds DependsOn on a function’s role policy although the function already references the role (GetAtt): redundant, harmless, and the ordering is what CDK wants.',
  };

  function cfnLint(): string[] {
    const candidates: Array<[string, string[]]> = [
      [process.env.CFN_LINT ?? 'cfn-lint', []],
      // cfn-lint has no __main__: `python3 -m cfnlint` does not run it; its runner does.
      ['python3', ['-c', 'import sys; from cfnlint.runner import main; sys.argv[0] = "cfn-lint"; main()']],
    ];
    for (const [command, prefix] of candidates) {
      const probe = spawnSync(command, [...prefix, '--version'], { encoding: 'utf8' });
      if (!probe.error && probe.status === 0) return [command, ...prefix];
    }
    throw new Error(
      'The infra tier lints the templates with cfn-lint, which was not found (cfn-lint on PATH, or python3 -m cfnlint).\n' +
        'Install it with: pip install cfn-lint   (or set CFN_LINT to its path). This test never skips.',
    );
  }

  it('finds no error and no warning but the named ones in every synthesized template', () => {
    const [command, ...prefix] = cfnLint() as [string, ...string[]];
    const dir = mkdtempSync(join(tmpdir(), 'cfn-lint-'));
    const variants = {
      dev: dev.assembly,
      prod: synthApp(
        {
          ...PROD_CONTEXT,
          domainName: 'stripe.defrr.com',
          certificateArn:
            'arn:aws:acm:eu-west-1:123456789012:certificate/0f6f8b8e-1111-4c3a-9d5e-2a1b3c4d5e6f',
        },
        { bundle: false },
      ).assembly,
    };
    const files: string[] = [];
    for (const [name, assembly] of Object.entries(variants)) {
      for (const stack of assembly.stacks) {
        const file = join(dir, `${name}-${stack.stackName}.json`);
        writeFileSync(file, JSON.stringify(stack.template));
        files.push(file);
      }
    }
    expect(readdirSync(dir)).toHaveLength(4);
    const run = spawnSync(
      command,
      [...prefix, '--format', 'parseable', '--regions', 'us-east-1', 'eu-west-1', '--', ...files],
      { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
    );
    expect(run.error).toBeUndefined();
    // parseable: file:line:col:endline:endcol:RULE:message
    const findings = run.stdout
      .split('\n')
      .filter(Boolean)
      .map((line) => line.split(':'));
    const unexpected = findings.filter((f) => !(f[5] && f[5] in IGNORED)).map((f) => f.join(':'));
    expect(unexpected).toEqual([]);
    // Exit status 0, or only warnings (4), each of them ignored above.
    expect([0, 4]).toContain(run.status);
    expect(run.stderr).not.toMatch(/error/i);
  });
});

describe('the runtime', () => {
  it('runs this tier on Node 22, the runtime Lambda gives the functions (npm run test:infra)', () => {
    expect(`node ${process.versions.node.split('.')[0]}`).toBe('node 22');
    expect(
      Object.values(service.findResources('AWS::Lambda::Function')).map((f) => f.Properties.Runtime),
    ).toEqual(expect.arrayContaining(['nodejs22.x']));
  });
});
