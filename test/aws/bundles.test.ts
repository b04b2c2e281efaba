import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient, PutRuleCommand, PutTargetsCommand } from '@aws-sdk/client-eventbridge';
import { KMSClient } from '@aws-sdk/client-kms';
import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient, GetCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { flattenClaims } from '../../local/api-adapter.js';
import { type DevIssuer, devIssuer } from '../../local/dev-auth.js';
import type { StripeSandbox } from '../../local/stripe-sandbox/server.js';
import { hashInstallToken } from '../../shared/connect/install.js';
import { hashOAuthState } from '../../shared/connect/oauth-state.js';
import { keys, recordKeys } from '../../shared/data/keys.js';
import { slotFor } from '../../shared/domain/connection.js';
import { type FunctionName, type RouteDef, routes } from '../../shared/http/routes.js';
import { RESOURCES } from '../../shared/records/registry.js';
import { STRIPE_API_VERSION } from '../../shared/stripe/api-version.js';
import {
  type BundledFunction,
  bundleFiles,
  type Invocation,
  invokeBundle,
  lambdaEnvironment,
  node22Binary,
  type SynthesizedBundles,
  synthBundles,
  TEST_OVERRIDES,
} from '../support/bundle-invoke.js';
import { MotoDeployment } from '../support/cfn-env.js';
import { findSecrets, registerSecret } from '../support/log-capture.js';
import { motoClientConfig, motoEndpoint } from '../support/moto.js';
import { startTestSandbox } from '../support/sandbox.js';

/**
 * The aws tier against what ships: the functions exactly as a CDK synth bundles
 * them (each asset folder's index.mjs), run on Node 22 in their own processes
 * with the environment their CloudFormation template gives them (resolved
 * against resources made on moto from the same templates), invoked with the
 * events API Gateway, SQS and EventBridge send, one journey through the
 * service: connect, callback, confirm, sync, status, webhooks, schedules,
 * manual sync, disconnect.
 */
jest.setTimeout(300_000);

const ALL_FUNCTIONS: FunctionName[] = [
  'health',
  'connect-start',
  'oauth-callback',
  'connect-confirm',
  'status',
  'records',
  'sync-request',
  'disconnect',
  'webhook-intake',
  'webhook-processor',
  'sync-dispatcher',
  'sync-worker',
];

/** A small connected account, so that the first sync is quick. */
const SHOP = 'acct_1BundleTestShop001';
const SHOP_NAME = 'Bundle Test Shop';
const ORG = `org_bundles_${Date.now().toString(36)}`;
const ADMIN = 'user_bundles_admin';
const MEMBER = 'user_bundles_member';

const clients = {
  dynamodb: new DynamoDBClient(motoClientConfig()),
  kms: new KMSClient(motoClientConfig()),
  secrets: new SecretsManagerClient(motoClientConfig()),
  sqs: new SQSClient(motoClientConfig()),
  events: new EventBridgeClient(motoClientConfig()),
};
const db = DynamoDBDocumentClient.from(clients.dynamodb);

let app: SynthesizedBundles;
let node: string;
let deployment: MotoDeployment;
let sandbox: StripeSandbox;
let issuer: DevIssuer;
let apiDomain: string;
let jwtDir: string;
let capture: {
  server: Server;
  url: string;
  deliveries: Array<{ body: string; headers: Record<string, string> }>;
};
/** Each function's variables as its template gives them, resolved. */
const templateEnv = {} as Record<FunctionName, Record<string, string>>;
/** What each function's bundle read, over all its invocations. */
const reads = new Map<FunctionName, Set<string>>();
/** Functions whose bundle enumerated process.env (which would make every variable look read). */
const enumerated = new Set<FunctionName>();
const invocations: Array<{ fn: FunctionName; output: string }> = [];
/** The values planted in moto and the sandbox that must never reach a log. */
const planted: string[] = [];
let completedQueueUrl: string;

const plant = (value: string) => {
  registerSecret(value);
  planted.push(value);
};

beforeAll(async () => {
  node = node22Binary();
  app = synthBundles();
  sandbox = await startTestSandbox({
    accounts: [
      {
        id: SHOP,
        name: SHOP_NAME,
        counts: {
          balance_transactions: 12,
          charges: 8,
          refunds: 2,
          invoices: 4,
          credit_notes: 1,
          disputes: 1,
        },
      },
    ],
  });
  for (const key of Object.values(sandbox.sandbox.secretKeys)) plant(key);
  // Stripe's side of the webhook endpoint: deliveries land here, signed with its own secret.
  const deliveries: Array<{ body: string; headers: Record<string, string> }> = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(req.headers))
        if (typeof value === 'string') headers[name] = value;
      deliveries.push({ body: Buffer.concat(chunks).toString('utf8'), headers });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  capture = { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, deliveries };
  const endpoint = sandbox.sandbox.addEndpoint(capture.url, 'test', STRIPE_API_VERSION, { ownSecret: true });
  const webhookSecret = endpoint.secrets?.[0];
  if (!webhookSecret) throw new Error('the sandbox gave the endpoint no secret');
  plant(webhookSecret);

  deployment = new MotoDeployment([app.stateful, app.service], { endpoint: motoEndpoint(), ...clients });
  for (const name of ALL_FUNCTIONS) {
    const fn = app.functions[name];
    templateEnv[name] = await deployment.functionEnvironment(app.service, fn.logicalId);
  }
  // The operator's steps after the first deploy (README): the app's keys and the signing secret.
  await clients.secrets.send(
    new PutSecretValueCommand({
      SecretId: variable('oauth-callback', 'APP_CREDENTIALS_SECRET_ID'),
      SecretString: JSON.stringify({ secretKeys: sandbox.sandbox.secretKeys }),
    }),
  );
  await clients.secrets.send(
    new PutSecretValueCommand({
      SecretId: variable('webhook-intake', 'WEBHOOK_SECRETS_SECRET_ID'),
      SecretString: JSON.stringify({ webhookSecrets: [webhookSecret] }),
    }),
  );
  const api = Object.entries(await deployment.resources()).find(
    ([, r]) => r.type === 'AWS::ApiGatewayV2::Api',
  );
  if (!api?.[1].attributes.ApiEndpoint) throw new Error('no function refers to the HTTP API');
  apiDomain = new URL(api[1].attributes.ApiEndpoint).host;

  // Watch the bus: a rule sending `Stripe Sync Completed` to a queue of the test's own.
  const { QueueUrl } = await clients.sqs.send(
    new CreateQueueCommand({ QueueName: `bundles-completed-${deployment.suffix}` }),
  );
  completedQueueUrl = QueueUrl as string;
  const bus = variable('sync-worker', 'EVENT_BUS_NAME');
  await clients.events.send(
    new PutRuleCommand({
      Name: `bundles-completed-${deployment.suffix}`,
      EventBusName: bus,
      EventPattern: JSON.stringify({
        source: [variable('sync-worker', 'EVENT_SOURCE')],
        'detail-type': ['Stripe Sync Completed'],
      }),
    }),
  );
  await clients.events.send(
    new PutTargetsCommand({
      Rule: `bundles-completed-${deployment.suffix}`,
      EventBusName: bus,
      Targets: [{ Id: 'observer', Arn: await queueArn(completedQueueUrl) }],
    }),
  );

  const context = app.context;
  jwtDir = mkdtempSync(join(tmpdir(), 'bundles-jwt-'));
  issuer = await devIssuer(
    join(jwtDir, 'key.json'),
    { org: String(context.jwtOrgClaim), roles: String(context.jwtRolesClaim) },
    String(context.jwtIssuer),
    String(context.jwtAudience).split(',')[0],
  );
});

afterAll(async () => {
  await sandbox?.close();
  capture?.server.close();
  for (const client of Object.values(clients)) client.destroy();
  // The cloud assembly (every bundle) and the dev signing key.
  for (const dir of [app?.outdir, jwtDir]) if (dir) rmSync(dir, { recursive: true, force: true });
});

// --- helpers -------------------------------------------------------------------------------------

/** A variable the function's template sets (resolved); fails when it sets none. */
function variable(fn: FunctionName, name: string): string {
  const value = templateEnv[fn][name];
  if (value === undefined) throw new Error(`the template gives ${fn} no ${name}`);
  return value;
}

async function queueArn(url: string): Promise<string> {
  const { Attributes } = await clients.sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }),
  );
  return Attributes?.QueueArn as string;
}

/** Invokes a function's bundle as Lambda would, with its template's environment. */
async function invoke<T = unknown>(name: FunctionName, event: unknown): Promise<Invocation<T>> {
  const fn: BundledFunction = app.functions[name];
  const env = lambdaEnvironment(
    fn,
    `${app.service.stackName}-${fn.logicalId}`.slice(0, 64),
    templateEnv[name],
    {
      AWS_ENDPOINT_URL: motoEndpoint(),
      AWS_REGION: deployment.region,
      AWS_DEFAULT_REGION: deployment.region,
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
      AWS_SESSION_TOKEN: 'testing',
      STRIPE_API_BASE: sandbox.url,
    },
  );
  const run = await invokeBundle<T>({ node, fn, env, event });
  invocations.push({ fn: name, output: run.output });
  const seen = reads.get(name) ?? new Set<string>();
  for (const variable of run.envRead) seen.add(variable);
  reads.set(name, seen);
  if (run.envEnumerated > 0) enumerated.add(name);
  if (!run.ok)
    throw new Error(
      `${name} failed (${run.phase}): ${run.error?.name}: ${run.error?.message}\n--- its output ---\n${run.output}`,
    );
  return run;
}

interface HttpAnswer {
  statusCode: number;
  headers: Record<string, string>;
  body?: string;
}

const route = (fn: FunctionName): RouteDef => {
  const found = routes.find((r) => r.function === fn);
  if (!found) throw new Error(`no route for ${fn}`);
  return found;
};

/** An API Gateway HTTP API event (payload 2.0); a `jwt` route's claims as its JWT authorizer passes them. */
async function httpEvent(
  fn: FunctionName,
  options: {
    token?: string;
    body?: string;
    query?: Record<string, string>;
    headers?: Record<string, string>;
  } = {},
) {
  const r = route(fn);
  const now = new Date();
  const rawQueryString = options.query ? new URLSearchParams(options.query).toString() : '';
  let authorizer: Record<string, unknown> | undefined;
  if (r.auth === 'jwt') {
    if (!options.token) throw new Error(`${fn} is a jwt route: give a token`);
    authorizer = { jwt: { claims: flattenClaims(await issuer.verify(options.token)), scopes: null } };
  }
  const headers: Record<string, string> = {
    accept: 'application/json',
    host: apiDomain,
    'user-agent': 'Mozilla/5.0 (bundles test)',
    'x-amzn-trace-id': `Root=1-${Math.floor(now.getTime() / 1000).toString(16)}-${randomUUID().replace(/-/g, '').slice(0, 24)}`,
    'x-forwarded-for': '203.0.113.7',
    'x-forwarded-port': '443',
    'x-forwarded-proto': 'https',
    ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
    ...(options.body !== undefined
      ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(options.body)) }
      : {}),
    ...options.headers,
  };
  const routeKey = `${r.method} ${r.path}`;
  return {
    version: '2.0',
    routeKey,
    rawPath: r.path,
    rawQueryString,
    headers,
    ...(options.query ? { queryStringParameters: options.query } : {}),
    requestContext: {
      accountId: deployment.accountId,
      apiId: apiDomain.split('.')[0],
      ...(authorizer ? { authorizer } : {}),
      domainName: apiDomain,
      domainPrefix: apiDomain.split('.')[0],
      http: {
        method: r.method,
        path: r.path,
        protocol: 'HTTP/1.1',
        sourceIp: '203.0.113.7',
        userAgent: headers['user-agent'],
      },
      requestId: randomUUID(),
      routeKey,
      stage: '$default',
      time: apiGatewayTime(now),
      timeEpoch: now.getTime(),
    },
    ...(options.body !== undefined ? { body: options.body } : {}),
    isBase64Encoded: false,
  };
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
/** `requestContext.time` as API Gateway writes it: `12/Mar/2020:19:03:58 +0000`. */
function apiGatewayTime(at: Date): string {
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(at.getUTCDate())}/${MONTHS[at.getUTCMonth()]}/${at.getUTCFullYear()}:${two(at.getUTCHours())}:${two(at.getUTCMinutes())}:${two(at.getUTCSeconds())} +0000`;
}

const jsonBody = (answer: HttpAnswer) => JSON.parse(answer.body ?? '') as Record<string, unknown>;

/** Messages on a queue now, received as Lambda's poller does (every attribute). */
async function receive(url: string, until: (messages: Message[]) => boolean, tries = 20): Promise<Message[]> {
  const got: Message[] = [];
  for (let i = 0; i < tries && !until(got); i++) {
    const { Messages } = await clients.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: url,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 1,
        MessageSystemAttributeNames: ['All'],
        MessageAttributeNames: ['All'],
      }),
    );
    got.push(...(Messages ?? []));
  }
  return got;
}

/** Receives until `count` messages matching `match` arrived; deletes everything received. */
async function drain(url: string, match: (body: Record<string, unknown>) => boolean, count = 1) {
  const matching = (messages: Message[]) =>
    messages.filter((m) => match(JSON.parse(m.Body as string) as Record<string, unknown>));
  const messages = await receive(url, (got) => matching(got).length >= count);
  return { all: messages, matching: matching(messages) };
}

async function remove(url: string, messages: Message[]) {
  for (const m of messages)
    await clients.sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: m.ReceiptHandle }));
}

/** The SQS event Lambda's event source mapping builds from received messages. */
async function sqsEvent(url: string, messages: Message[]) {
  const arn = await queueArn(url);
  return {
    Records: messages.map((m) => ({
      messageId: m.MessageId,
      receiptHandle: m.ReceiptHandle,
      body: m.Body,
      attributes: {
        ApproximateReceiveCount: m.Attributes?.ApproximateReceiveCount ?? '1',
        SentTimestamp: m.Attributes?.SentTimestamp ?? String(Date.now()),
        SenderId: m.Attributes?.SenderId ?? 'AROAEXAMPLE',
        ApproximateFirstReceiveTimestamp:
          m.Attributes?.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
      },
      messageAttributes: Object.fromEntries(
        Object.entries(m.MessageAttributes ?? {}).map(([name, value]) => [
          name,
          {
            stringValue: value.StringValue,
            binaryValue: value.BinaryValue ? Buffer.from(value.BinaryValue).toString('base64') : undefined,
            stringListValues: value.StringListValues ?? [],
            binaryListValues: [],
            dataType: value.DataType,
          },
        ]),
      ),
      md5OfBody: m.MD5OfBody,
      eventSource: 'aws:sqs',
      eventSourceARN: arn,
      awsRegion: deployment.region,
    })),
  };
}

const serviceItem = async (key: Record<string, string>) =>
  (
    await db.send(
      new GetCommand({ TableName: variable('status', 'SERVICE_TABLE_NAME'), Key: key, ConsistentRead: true }),
    )
  ).Item;

/** The records table's partition for the org and account: items counted by resource. */
async function storedRecords(): Promise<{ counts: Record<string, number>; ids: Set<string> }> {
  const counts: Record<string, number> = {};
  const ids = new Set<string>();
  let start: Record<string, unknown> | undefined;
  do {
    const page = await db.send(
      new QueryCommand({
        TableName: variable('status', 'RECORDS_TABLE_NAME'),
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: {
          ':pk': recordKeys.partition({ orgId: ORG, mode: 'test', accountId: SHOP }),
        },
        ExclusiveStartKey: start,
      }),
    );
    for (const item of page.Items ?? []) {
      // The feed item holds the partition's positions, no Stripe data; an erase keeps it.
      if (item.sk === recordKeys.feed({ orgId: ORG, mode: 'test', accountId: SHOP }).sk) {
        const kept = Object.keys(item).filter((name) => !/^[otd]_[0-9a-f]{20}$/.test(name));
        expect(kept.sort()).toEqual(expect.arrayContaining(['next', 'pk', 'sk']));
        expect(kept.filter((name) => !['next', 'pk', 'sk', 'seeded', 'erased'].includes(name))).toEqual([]);
        continue;
      }
      ids.add(String(item.sk));
      const resource = String(item.resource);
      if (!RESOURCES.some((r) => r.name === resource) || item.deleted === true) continue;
      counts[resource] = (counts[resource] ?? 0) + 1;
    }
    start = page.LastEvaluatedKey;
  } while (start);
  return { counts, ids };
}

const adminToken = () => issuer.issue({ org: ORG, roles: ['admin'], sub: ADMIN });
const memberToken = () => issuer.issue({ org: ORG, roles: ['member'], sub: MEMBER });

// --- the journey ---------------------------------------------------------------------------------

/** What the journey learns as it goes. */
const journey: {
  state?: string;
  install?: string;
  secretName?: string;
  connectionId?: string;
  chargeEventId?: string;
  chargeId?: string;
} = {};

describe('the synthesized bundles', () => {
  it('are eleven nodejs22.x functions, each an ESM index.mjs bundle with Handler index.handler', () => {
    expect(Object.keys(app.functions).sort()).toEqual([...ALL_FUNCTIONS].sort());
    for (const name of ALL_FUNCTIONS) {
      const fn = app.functions[name];
      expect({ name, runtime: fn.runtime, handler: fn.handler }).toEqual({
        name,
        runtime: 'nodejs22.x',
        handler: 'index.handler',
      });
      expect(bundleFiles(fn)).toEqual(['index.mjs', 'index.mjs.map']);
    }
  });

  it('are resolved by an evaluator that refuses what it cannot resolve, naming it', async () => {
    const stack = app.service;
    await expect(deployment.resolve(stack, { 'Fn::GetAZs': '' }, 'probe')).rejects.toThrow(
      /probe: cannot resolve Fn::GetAZs .*does not know it/,
    );
    await expect(deployment.resolve(stack, { Ref: 'NoSuchThing' }, 'probe')).rejects.toThrow(
      /no resource NoSuchThing/,
    );
    await expect(
      deployment.resolve(stack, { 'Fn::ImportValue': 'nobody-exports-this' }, 'probe'),
    ).rejects.toThrow(/no stack exports/);
    await expect(
      deployment.resolve(stack, { 'Fn::GetAtt': [app.functions.health.logicalId, 'Arn'] }, 'probe'),
    ).rejects.toThrow(/cannot make a AWS::Lambda::Function/);
  });

  it('get every variable of their template resolved (no intrinsic left, none dropped)', async () => {
    for (const name of ALL_FUNCTIONS) {
      const properties = app.service.template.Resources[app.functions[name].logicalId]?.Properties ?? {};
      // Health reads no variable, so the template gives it no Environment at all.
      const raw =
        (properties.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {};
      expect(Object.keys(templateEnv[name]).sort()).toEqual(Object.keys(raw).sort());
      for (const [variable, value] of Object.entries(templateEnv[name])) {
        expect({ name, variable, value }).toEqual({ name, variable, value: expect.stringMatching(/\S/) });
        expect(value).not.toMatch(/\[object Object\]|Fn::|"Ref"/);
      }
    }
    // The secrets an operator fills, by the names the README gives them.
    for (const [fn, name, secret] of [
      ['oauth-callback', 'APP_CREDENTIALS_SECRET_ID', 'app-credentials'],
      ['webhook-intake', 'WEBHOOK_SECRETS_SECRET_ID', 'webhook-secrets'],
    ] as const) {
      const described = await clients.secrets.send(
        new DescribeSecretCommand({ SecretId: variable(fn, name) }),
      );
      expect(described.Name).toBe(`defrr/stripe/${String(app.context.stage)}/${secret}`);
    }
    expect(variable('connect-start', 'OAUTH_REDIRECT_URI')).toBe(
      `https://${apiDomain}/v1/integrations/stripe/callback`,
    );
  });
});

describe('the journey through the bundles, on moto and the Stripe sandbox', () => {
  it('health: 200 ok', async () => {
    const { result } = await invoke<HttpAnswer>('health', await httpEvent('health'));
    expect(result?.statusCode).toBe(200);
    expect(jsonBody(result as HttpAnswer)).toEqual({ status: 'ok' });
  });

  it('connect-start: a member is refused; an admin gets the install link and the state is stored', async () => {
    const body = JSON.stringify({});
    const refused = await invoke<HttpAnswer>(
      'connect-start',
      await httpEvent('connect-start', { token: await memberToken(), body }),
    );
    expect(refused.result?.statusCode).toBe(403);

    const { result } = await invoke<HttpAnswer>(
      'connect-start',
      await httpEvent('connect-start', { token: await adminToken(), body }),
    );
    expect(result?.statusCode).toBe(200);
    const answer = jsonBody(result as HttpAnswer) as { authorizeUrl: string; expiresAt: string };
    expect(answer.expiresAt).toEqual(expect.any(String));
    const url = new URL(answer.authorizeUrl);
    const env = (name: string) => variable('connect-start', name);
    expect(`${url.origin}${url.pathname}`).toBe(env('STRIPE_AUTHORIZE_URL_TEST'));
    expect(url.searchParams.get('client_id')).toBe(env('STRIPE_CLIENT_ID'));
    expect(url.searchParams.get('redirect_uri')).toBe(env('OAUTH_REDIRECT_URI'));
    const state = url.searchParams.get('state') as string;
    expect(state).toMatch(/^[A-Za-z0-9_-]{43}$/);
    journey.state = state;
    // Only the state's hash is stored, bound to the org, the user and the mode.
    expect(await serviceItem(keys.oauthState(hashOAuthState(state)))).toMatchObject({
      orgId: ORG,
      userId: ADMIN,
      mode: 'test',
    });
  });

  it("oauth-callback: Stripe's redirect exchanges the code, keeps the tokens in a new secret, and sends the browser to confirm", async () => {
    // The user installs the app on the account in Stripe, which then redirects the browser with a code.
    const code = sandbox.sandbox.install(SHOP, 'test');
    plant(code);
    const { result } = await invoke<HttpAnswer>(
      'oauth-callback',
      await httpEvent('oauth-callback', {
        query: { code, state: journey.state as string },
        headers: {
          accept: 'text/html',
          'sec-fetch-site': 'cross-site',
          referer: 'https://marketplace.stripe.com/',
        },
      }),
    );
    expect(result?.statusCode).toBe(302);
    const location = new URL(result?.headers.location as string);
    const env = (name: string) => variable('oauth-callback', name);
    expect(`${location.origin}${location.pathname}`).toBe(
      `${env('FRONTEND_ORIGINS').split(',')[0]}${env('FRONTEND_INTEGRATION_PATH')}`,
    );
    expect(location.searchParams.get('stripe')).toBe('confirm');
    const install = location.searchParams.get('install') as string;
    expect(install).toMatch(/^inst_[A-Za-z0-9_-]{43}$/);
    plant(install);
    journey.install = install;
    expect(sandbox.requests.filter((r) => r.route === 'POST /v1/oauth/token').map((r) => r.status)).toEqual([
      200,
    ]);

    const pending = await serviceItem(keys.pendingInstall(hashInstallToken(install)));
    expect(pending).toMatchObject({ orgId: ORG, userId: ADMIN, accountId: SHOP, livemode: false });
    const secretName = String(pending?.secretName);
    expect(secretName.startsWith(env('TOKEN_SECRET_PREFIX'))).toBe(true);
    journey.secretName = secretName;
    // The secret, encrypted with the stack's key and tagged; its tokens are the sandbox's grant.
    const described = await clients.secrets.send(new DescribeSecretCommand({ SecretId: secretName }));
    expect(described.KmsKeyId).toBe(env('KMS_KEY_ID'));
    expect(Object.fromEntries((described.Tags ?? []).map((t) => [t.Key, t.Value]))).toMatchObject({
      org: ORG,
      account: SHOP,
      livemode: 'false',
    });
    const { SecretString } = await clients.secrets.send(new GetSecretValueCommand({ SecretId: secretName }));
    const tokens = JSON.parse(SecretString as string) as Record<string, unknown>;
    for (const key of ['accessToken', 'refreshToken', 'access_token', 'refresh_token'])
      if (typeof tokens[key] === 'string') plant(tokens[key] as string);
    expect(tokens).toMatchObject({ accountId: SHOP, livemode: false });
  });

  it('connect-confirm: the admin who started it confirms; the connection is stored and its first sync queued', async () => {
    const { result } = await invoke<HttpAnswer>(
      'connect-confirm',
      await httpEvent('connect-confirm', {
        token: await adminToken(),
        body: JSON.stringify({ install: journey.install }),
      }),
    );
    expect(result?.statusCode).toBe(200);
    expect(jsonBody(result as HttpAnswer)).toMatchObject({
      status: 'connected',
      account: { id: SHOP, livemode: false },
      sync: { state: 'queued' },
    });
    const connection = await serviceItem(keys.connection({ orgId: ORG, slot: slotFor('test', SHOP) }));
    expect(connection).toMatchObject({
      status: 'connected',
      accountId: SHOP,
      secretName: journey.secretName,
    });
    journey.connectionId = String(connection?.connectionId);
    expect(
      await serviceItem(keys.pendingInstall(hashInstallToken(journey.install as string))),
    ).toBeUndefined();
    expect(await serviceItem(keys.accountLink(SHOP, ORG, journey.connectionId))).toMatchObject({
      orgId: ORG,
      connectionId: journey.connectionId,
    });
  });

  it("sync-worker: consumes the first sync's SQS message; the records land in the records table and the bus hears of it", async () => {
    const queue = variable('connect-confirm', 'SYNC_QUEUE_URL');
    const { matching } = await drain(queue, (b) => b.orgId === ORG && b.reason === 'initial');
    expect(matching).toHaveLength(1);
    expect(JSON.parse(matching[0]?.Body as string)).toEqual({
      orgId: ORG,
      slot: slotFor('test', SHOP),
      connectionId: journey.connectionId,
      reason: 'initial',
    });
    const { result } = await invoke<{ batchItemFailures: unknown[] }>(
      'sync-worker',
      await sqsEvent(queue, matching),
    );
    expect(result).toEqual({ batchItemFailures: [] });
    // Lambda deletes a batch's messages that did not fail.
    await remove(queue, matching);

    const { counts } = await storedRecords();
    expect(counts.charges).toBeGreaterThan(0);
    expect(counts.balance_transactions).toBeGreaterThan(0);
    const connection = await serviceItem(keys.connection({ orgId: ORG, slot: slotFor('test', SHOP) }));
    expect(connection).toMatchObject({
      accountName: SHOP_NAME,
      sync: { state: 'idle', lastSuccessAt: expect.any(String), lastError: null },
    });
    expect(sandbox.requests.some((r) => r.account === SHOP && r.route === 'GET /v1/charges')).toBe(true);

    const { matching: completed } = await drain(completedQueueUrl, () => true);
    expect(completed.map((m) => JSON.parse(m.Body as string))).toEqual([
      expect.objectContaining({
        source: variable('sync-worker', 'EVENT_SOURCE'),
        'detail-type': 'Stripe Sync Completed',
        detail: expect.objectContaining({
          orgId: ORG,
          connection: `test_${SHOP}`,
          accountId: SHOP,
          connectionId: journey.connectionId,
          reason: 'initial',
        }),
      }),
    ]);
  });

  it('status: a member sees the connection, the account named, the sync idle, and the counts of what is stored', async () => {
    const { result } = await invoke<HttpAnswer>(
      'status',
      await httpEvent('status', { token: await memberToken() }),
    );
    expect(result?.statusCode).toBe(200);
    const { counts } = await storedRecords();
    const view = jsonBody(result as HttpAnswer) as { sync: { counts: Record<string, number> } };
    expect(view).toMatchObject({
      status: 'connected',
      account: { id: SHOP, name: SHOP_NAME, livemode: false },
      sync: { state: 'idle', lastError: null },
    });
    for (const def of RESOURCES)
      expect([def.name, view.sync.counts[def.name]]).toEqual([def.name, counts[def.name] ?? 0]);
  });

  it("records: a member reads the connection's change feed from cursor zero, page by page, and gets every stored record", async () => {
    // Past the feed's settle time, so every write of the sync is readable.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    const { ids } = await storedRecords();
    const stored = [...ids].filter((sk) => !sk.startsWith('_') && !sk.includes('#lines#'));
    const read = new Set<string>();
    let after: string | undefined;
    for (let pages = 0; pages < 100; pages++) {
      const { result } = await invoke<HttpAnswer>(
        'records',
        await httpEvent('records', {
          token: await memberToken(),
          query: { limit: '50', ...(after ? { after } : {}) },
        }),
      );
      expect(result?.statusCode).toBe(200);
      const page = jsonBody(result as HttpAnswer) as {
        data: Array<{ resource: string; id: string }>;
        next: string;
        has_more: boolean;
      };
      for (const record of page.data) read.add(`${record.resource}#${record.id}`);
      after = page.next;
      if (!page.has_more) break;
    }
    expect([...read].sort()).toEqual(stored.sort());
    const { result } = await invoke<HttpAnswer>(
      'records',
      await httpEvent('records', { token: await memberToken(), query: { after: 'fc1_notacursorforyou_1' } }),
    );
    expect(result?.statusCode).toBe(400);
  });

  it('webhook-intake: a delivery signed with the endpoint secret is queued; a tampered one is refused', async () => {
    const before = capture.deliveries.length;
    const activity = sandbox.sandbox.createActivity(SHOP, 'test', 'charge');
    await sandbox.sandbox.webhooksIdle();
    const delivery = capture.deliveries
      .slice(before)
      .find((d) => (JSON.parse(d.body) as { type: string }).type === 'charge.succeeded');
    if (!delivery) throw new Error('the sandbox delivered no charge.succeeded');
    const event = JSON.parse(delivery.body) as { id: string; data: { object: { id: string } } };
    expect(activity.events).toContain(event.id);
    journey.chargeEventId = event.id;
    journey.chargeId = event.data.object.id;
    const headers = {
      'content-type': delivery.headers['content-type'] as string,
      'user-agent': delivery.headers['user-agent'] as string,
      'stripe-signature': delivery.headers['stripe-signature'] as string,
    };
    const tampered = await invoke<HttpAnswer>(
      'webhook-intake',
      await httpEvent('webhook-intake', {
        body: delivery.body.replace('"livemode": false', '"livemode": true'),
        headers,
      }),
    );
    expect(tampered.result?.statusCode).toBe(400);
    expect(jsonBody(tampered.result as HttpAnswer)).toMatchObject({ error: { code: 'invalid_signature' } });

    const { result } = await invoke<HttpAnswer>(
      'webhook-intake',
      await httpEvent('webhook-intake', { body: delivery.body, headers }),
    );
    expect(result?.statusCode).toBe(200);
    expect(jsonBody(result as HttpAnswer)).toEqual({ received: true });
  });

  it('webhook-processor: consumes the queued event; the charge is written to the records table, the event to the ledger', async () => {
    const queue = variable('webhook-intake', 'WEBHOOK_QUEUE_URL');
    const { all, matching } = await drain(
      queue,
      (b) => (b.event as { id?: string } | undefined)?.id === journey.chargeEventId,
    );
    // Only the signed delivery was queued, not the tampered one.
    expect(all).toHaveLength(1);
    expect(JSON.parse(matching[0]?.Body as string)).toMatchObject({
      kind: 'event',
      event: { id: journey.chargeEventId, type: 'charge.succeeded', account: SHOP },
    });
    const before = await storedRecords();
    expect(before.ids.has(`charges#${journey.chargeId}`)).toBe(false);

    const { result } = await invoke<{ batchItemFailures: unknown[] }>(
      'webhook-processor',
      await sqsEvent(queue, matching),
    );
    expect(result).toEqual({ batchItemFailures: [] });
    await remove(queue, matching);
    const after = await storedRecords();
    expect(after.ids.has(`charges#${journey.chargeId}`)).toBe(true);
    expect(after.counts.charges).toBe((before.counts.charges ?? 0) + 1);
    expect(await serviceItem(keys.webhookEvent(journey.chargeEventId as string))).toBeDefined();
  });

  it('sync-dispatcher: the nightly schedule queues a sync for the connection; the sweep input runs the sweep', async () => {
    const rules = Object.entries(app.service.template.Resources).filter(
      ([, r]) => r.Type === 'AWS::Events::Rule',
    );
    const targetsDispatcher = (r: { Properties?: Record<string, unknown> }) =>
      ((r.Properties?.Targets ?? []) as Array<{ Arn: unknown }>).some(
        (t) =>
          JSON.stringify(t.Arn) ===
          JSON.stringify({ 'Fn::GetAtt': [app.functions['sync-dispatcher'].logicalId, 'Arn'] }),
      );
    const nightly = rules.find(([, r]) => r.Properties?.ScheduleExpression === app.context.syncSchedule);
    const sweepRule = rules.find(([, r]) =>
      ((r.Properties?.Targets ?? []) as Array<{ Input?: string }>).some((t) => t.Input !== undefined),
    );
    if (!nightly || !sweepRule) throw new Error('the schedules are not in the template');
    expect(targetsDispatcher(nightly[1])).toBe(true);
    expect(targetsDispatcher(sweepRule[1])).toBe(true);

    const scheduled = {
      version: '0',
      id: randomUUID(),
      'detail-type': 'Scheduled Event',
      source: 'aws.events',
      account: deployment.accountId,
      time: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
      region: deployment.region,
      resources: [
        `arn:aws:events:${deployment.region}:${deployment.accountId}:rule/${app.service.stackName}-${nightly[0]}`,
      ],
      detail: {},
    };
    const { result } = await invoke('sync-dispatcher', scheduled);
    expect(result).toEqual({ connections: 1, queued: 1, skipped: 0, batchCalls: 1 });
    const queue = variable('sync-dispatcher', 'SYNC_QUEUE_URL');
    const { all, matching } = await drain(queue, (b) => b.orgId === ORG && b.reason === 'nightly');
    expect(matching.map((m) => JSON.parse(m.Body as string))).toEqual([
      { orgId: ORG, slot: slotFor('test', SHOP), connectionId: journey.connectionId, reason: 'nightly' },
    ]);
    await remove(queue, all);

    const input = ((sweepRule[1].Properties?.Targets ?? []) as Array<{ Input?: string }>).find(
      (t) => t.Input,
    )?.Input;
    expect(JSON.parse(input as string)).toEqual({ action: 'sweep' });
    const sweep = await invoke('sync-dispatcher', JSON.parse(input as string));
    expect(sweep.result).toEqual({ resumed: 0, installsExpired: 0, secretsDeleted: 0 });
  });

  it('sync-request: an admin queues a manual sync (202); asked again within the interval, 429', async () => {
    const { result } = await invoke<HttpAnswer>(
      'sync-request',
      await httpEvent('sync-request', { token: await adminToken(), body: '{}' }),
    );
    expect(result?.statusCode).toBe(202);
    expect(jsonBody(result as HttpAnswer)).toEqual({
      state: 'queued',
      queuedAt: expect.any(String),
      connection: `test_${SHOP}`,
      mode: 'incremental',
    });
    const queue = variable('sync-request', 'SYNC_QUEUE_URL');
    const { all, matching } = await drain(queue, (b) => b.orgId === ORG && b.reason === 'manual');
    expect(matching.map((m) => JSON.parse(m.Body as string))).toEqual([
      { orgId: ORG, slot: slotFor('test', SHOP), connectionId: journey.connectionId, reason: 'manual' },
    ]);
    await remove(queue, all);

    const again = await invoke<HttpAnswer>(
      'sync-request',
      await httpEvent('sync-request', { token: await adminToken(), body: '{}' }),
    );
    expect(again.result?.statusCode).toBe(429);
    const retryAfter = Number(again.result?.headers['retry-after']);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(Number(variable('sync-request', 'SYNC_MIN_INTERVAL_SECONDS')));
  });

  it("disconnect: 204; the connection is disconnected and its tokens' secret deleted", async () => {
    const { result } = await invoke<HttpAnswer>(
      'disconnect',
      await httpEvent('disconnect', { token: await adminToken() }),
    );
    expect(result?.statusCode).toBe(204);
    expect(await serviceItem(keys.connection({ orgId: ORG, slot: slotFor('test', SHOP) }))).toMatchObject({
      status: 'disconnected',
    });
    await expect(
      clients.secrets.send(new DescribeSecretCommand({ SecretId: journey.secretName })),
    ).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
    const status = await invoke<HttpAnswer>(
      'status',
      await httpEvent('status', { token: await memberToken() }),
    );
    expect(jsonBody(status.result as HttpAnswer)).toMatchObject({ status: 'disconnected' });
  });

  it('disconnect with records=erase: 202, and the sync worker erases the records from its queued job', async () => {
    expect((await storedRecords()).ids.size).toBeGreaterThan(0);
    const { result } = await invoke<HttpAnswer>(
      'disconnect',
      await httpEvent('disconnect', { token: await adminToken(), query: { records: 'erase' } }),
    );
    expect(result?.statusCode).toBe(202);
    expect(jsonBody(result as HttpAnswer)).toMatchObject({
      connection: `test_${SHOP}`,
      erasure: { state: 'queued', items: 0 },
    });
    const queue = variable('disconnect', 'SYNC_QUEUE_URL');
    const { matching } = await drain(queue, (b) => b.orgId === ORG && b.reason === 'erase');
    expect(matching).toHaveLength(1);
    // Straight after the request the erase waits (writers that read the connection before the
    // disconnect finish first): the worker queues it again, delayed, and erases nothing.
    const delayed = async () =>
      Number(
        (
          await clients.sqs.send(
            new GetQueueAttributesCommand({
              QueueUrl: queue,
              AttributeNames: ['ApproximateNumberOfMessagesDelayed'],
            }),
          )
        ).Attributes?.ApproximateNumberOfMessagesDelayed,
      );
    const waiting = await delayed();
    const first = await invoke<{ batchItemFailures: unknown[] }>(
      'sync-worker',
      await sqsEvent(queue, matching),
    );
    expect(first.result).toEqual({ batchItemFailures: [] });
    expect(await delayed()).toBe(waiting + 1);
    expect((await storedRecords()).ids.size).toBeGreaterThan(0);
    // The grace has passed (the request is made older rather than waited for).
    const connectionKey = keys.connection({ orgId: ORG, slot: slotFor('test', SHOP) });
    await db.send(
      new UpdateCommand({
        TableName: variable('status', 'SERVICE_TABLE_NAME'),
        Key: connectionKey,
        UpdateExpression: 'SET erasure.requestedAt = :past',
        ExpressionAttributeValues: { ':past': new Date(Date.now() - 5 * 60_000).toISOString() },
      }),
    );
    const { result: worked } = await invoke<{ batchItemFailures: unknown[] }>(
      'sync-worker',
      await sqsEvent(queue, matching),
    );
    expect(worked).toEqual({ batchItemFailures: [] });
    await remove(queue, matching);
    expect((await storedRecords()).ids.size).toBe(0);
    const status = await invoke<HttpAnswer>(
      'status',
      await httpEvent('status', { token: await memberToken() }),
    );
    expect(jsonBody(status.result as HttpAnswer)).toMatchObject({
      connections: [{ id: `test_${SHOP}`, status: 'disconnected', erasure: { state: 'done' } }],
    });
  });
});

describe('what the bundles read and wrote', () => {
  it('every function was invoked', () => {
    expect(ALL_FUNCTIONS.filter((name) => !reads.has(name))).toEqual([]);
  });

  it('every environment variable the template gives a function is read by its bundle', () => {
    // Reads are looked-up names: a bundle that enumerated process.env would make them meaningless.
    expect([...enumerated]).toEqual([]);
    const unread: string[] = [];
    for (const name of ALL_FUNCTIONS) {
      const seen = reads.get(name) ?? new Set<string>();
      for (const variable of Object.keys(templateEnv[name])) {
        if (variable === 'NODE_OPTIONS' || TEST_OVERRIDES.has(variable)) continue;
        if (!seen.has(variable)) unread.push(`${name}: ${variable}`);
      }
    }
    expect(unread).toEqual([]);
  });

  it('no token, key, code, install token or webhook secret reached any function’s output', () => {
    expect(planted.length).toBeGreaterThanOrEqual(6);
    // The scan reads the functions' real logs (Powertools' JSON lines on stdout).
    expect(
      invocations.some((i) => i.fn === 'connect-start' && /"message":\s*"connect started"/.test(i.output)),
    ).toBe(true);
    const leaks: string[] = [];
    for (const { fn, output } of invocations) {
      for (const leak of findSecrets(output)) leaks.push(`${fn}: ${leak}`);
      for (const value of planted) if (output.includes(value)) leaks.push(`${fn}: ${value.slice(0, 6)}…`);
    }
    expect(leaks).toEqual([]);
  });
});
