import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { makeHandler as syncDispatcher } from '../functions/sync-dispatcher/handler.js';
import { makeHandler as syncWorker } from '../functions/sync-worker/handler.js';
import { makeHandler as webhookProcessor } from '../functions/webhook-processor/handler.js';
import { DynamoCheckpointStore } from '../shared/adapters/dynamodb/checkpoint-store.js';
import { DynamoConnectionStore } from '../shared/adapters/dynamodb/connection-store.js';
import { documentClient } from '../shared/adapters/dynamodb/document-client.js';
import { DynamoEventLedger } from '../shared/adapters/dynamodb/event-ledger.js';
import { DynamoPendingInstallStore } from '../shared/adapters/dynamodb/pending-install-store.js';
import { DynamoRecordsStore } from '../shared/adapters/dynamodb/records-store.js';
import { DynamoRequestShares } from '../shared/adapters/dynamodb/request-shares.js';
import { HttpStripeTokenClient } from '../shared/adapters/stripe/token-client.js';
import { resolveConnection } from '../shared/connect/connect-service.js';
import { ensureTables } from '../shared/data/ensure-tables.js';
import { recordsTable, serviceTable } from '../shared/data/tables.js';
import type { Connection } from '../shared/domain/connection.js';
import type { SyncJob } from '../shared/domain/sync-job.js';
import { HttpError } from '../shared/errors.js';
import { openApiDocument } from '../shared/http/openapi.js';
import { routes } from '../shared/http/routes.js';
import type { AppCredentials } from '../shared/ports/app-credentials.js';
import { type Clock, systemClock } from '../shared/ports/clock.js';
import type { ConnectionStore } from '../shared/ports/connection-store.js';
import type { EventLedger } from '../shared/ports/event-ledger.js';
import type { EventPublisher } from '../shared/ports/event-publisher.js';
import type { JobQueue } from '../shared/ports/job-queue.js';
import type { PendingInstallStore } from '../shared/ports/pending-installs.js';
import { type RecordsStore, scopeOf } from '../shared/ports/records-store.js';
import type { RequestShares } from '../shared/ports/request-shares.js';
import type { TokenVault } from '../shared/ports/token-vault.js';
import { StripeAccess } from '../shared/stripe/stripe-access.js';
import type { SweepResult } from '../shared/sync/sweep.js';
import { DEFAULT_SYNC_CONFIG, type SyncConfig, type SyncDeps } from '../shared/sync/sync-run.js';
import type { WebhookMessage } from '../shared/webhooks/intake.js';
import type { ProcessDeps } from '../shared/webhooks/process.js';
import { FileTokenVault } from './adapters/file-token-vault.js';
import { LocalEventBus } from './adapters/local-event-bus.js';
import { LocalQueue } from './adapters/local-queue.js';
import { LocalSchedule } from './adapters/local-schedule.js';
import { apiAdapter } from './api-adapter.js';
import type { LocalConfig } from './config.js';
import { type DevIssuer, devIssuer } from './dev-auth.js';
import { type EmbeddedDynamo, startEmbeddedDynamo } from './embedded-dynamodb.js';
import { localHttpHandlers } from './functions.js';
import { integrationPage } from './integration-page.js';
import { assertInvocationsIsolated, invoke } from './invocation.js';
import { lambdaContext } from './lambda-context.js';
import { reconcile, sandboxTruth } from './reconcile.js';
import { type StripeSandbox, startStripeSandbox } from './stripe-sandbox/server.js';

export const LOCAL_TABLES = { service: 'defrr-stripe-local-service', records: 'defrr-stripe-local-records' };
export const CALLBACK_PATH = '/v1/integrations/stripe/callback';
export const WEBHOOK_PATH = '/v1/webhooks/stripe';

export interface LocalStack {
  url: string;
  port: number;
  config: LocalConfig;
  dynamo: EmbeddedDynamo;
  dynamoClient: DynamoDBClient;
  sandbox: StripeSandbox;
  issuer: DevIssuer;
  vault: FileTokenVault;
  store: DynamoConnectionStore;
  records: DynamoRecordsStore;
  /** What the webhook processor runs with (tests call it directly). */
  processorDeps: ProcessDeps;
  syncDeps: SyncDeps;
  access: StripeAccess;
  bus: LocalEventBus;
  queues: { sync: LocalQueue<SyncJob>; webhooks: LocalQueue<WebhookMessage> };
  schedule: LocalSchedule;
  installs: DynamoPendingInstallStore;
  /** Runs the sweep now (it also runs every LOCAL_SWEEP_SECONDS). */
  sweep(): Promise<SweepResult>;
  close(): Promise<void>;
}

export class PortInUseError extends Error {
  override name = 'PortInUseError';
  constructor(
    readonly what: string,
    readonly port: number,
    readonly variable: string,
  ) {
    super(
      `${what} cannot listen on port ${port}: it is already in use. Stop the other process or set ${variable}.`,
    );
  }
}

async function listen(server: Server, port: number, host: string, what: string, variable: string) {
  // Idle connections outlive a client's pool (see the sandbox's server): no ECONNRESET on reuse.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.listen(port, host);
  try {
    await Promise.race([
      once(server, 'listening'),
      once(server, 'error').then(([error]) => {
        throw error;
      }),
    ]);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE')
      throw new PortInUseError(what, port, variable);
    throw error;
  }
}

function vaultKey(config: LocalConfig): Buffer {
  if (config.LOCAL_VAULT_KEY) return Buffer.from(config.LOCAL_VAULT_KEY, 'base64');
  const file = join(config.dataDir, 'vault.key');
  if (existsSync(file)) return Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
  const key = randomBytes(32);
  writeFileSync(file, key.toString('base64'), { mode: 0o600 });
  return key;
}

export interface LocalStackOptions {
  /** Keep nothing on disk (`npm start -- --memory`). */
  memory?: boolean;
  /** The service's clock (tests move it to expire OAuth states). */
  clock?: Clock;
  /** Overrides of the sync's settings (tests shrink the deadline margin, benchmarks the budget). */
  sync?: Partial<SyncConfig> & { functionTimeoutMs?: number };
  /**
   * Starts the database instead of the embedded dynalite in this process
   * (benchmarks run it in a process of its own, as DynamoDB is remote in AWS).
   */
  startDynamo?: () => Promise<EmbeddedDynamo>;
  /** Wraps adapters, for fault injection in tests. */
  wrap?: {
    checkpoints?: (checkpoints: SyncDeps['checkpoints']) => SyncDeps['checkpoints'];
    onPageStored?: SyncDeps['onPageStored'];
    onStripeRequest?: SyncDeps['onStripeRequest'];
    /** Any adapter the functions use, by name (store, vault, records, ledger, checkpoints, syncQueue, webhookQueue, bus). */
    adapter?: <T extends object>(name: string, adapter: T) => T;
    records?: (records: RecordsStore) => RecordsStore;
    ledger?: (ledger: EventLedger) => EventLedger;
  };
}

/**
 * The whole service on loopback: embedded DynamoDB, the Stripe sandbox, the
 * stand-ins for SQS, EventBridge and Secrets Manager, and the HTTP API in
 * front of the Lambda handlers. The API port is taken first, so a second
 * stack on the same port fails before touching anything.
 */
export async function startLocalStack(
  config: LocalConfig,
  options: LocalStackOptions = {},
): Promise<LocalStack> {
  await assertInvocationsIsolated();
  const memory = options.memory ?? false;
  const clock = options.clock ?? systemClock;
  mkdirSync(config.dataDir, { recursive: true });

  let handle: ((req: IncomingMessage, res: ServerResponse) => Promise<void>) | undefined;
  const server = createServer((req, res) => {
    if (!handle) {
      res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1' });
      res.end(JSON.stringify({ error: { code: 'starting', message: 'The local stack is starting.' } }));
      return;
    }
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'internal', message: 'Something went wrong.' } }));
    });
  });
  await listen(server, config.PORT, config.HOST, 'The local API', 'PORT');
  const port = (server.address() as AddressInfo).port;
  const publicUrl = config.PUBLIC_URL ? config.publicUrl : `http://localhost:${port}`;

  const cleanups: Array<() => Promise<void> | void> = [];
  let closed = false;
  /** No new requests first; then queues drain and stop; the database closes last. */
  const close = async () => {
    if (closed) return;
    closed = true;
    server.closeAllConnections();
    server.close();
    for (const cleanup of cleanups.reverse()) await cleanup();
  };
  try {
    const dynamo = await (
      options.startDynamo?.() ??
      startEmbeddedDynamo({
        ...(memory ? {} : { path: join(config.dataDir, 'dynamodb') }),
        port: config.DYNAMODB_PORT,
        host: config.HOST,
      })
    ).catch((error: NodeJS.ErrnoException) => {
      throw error.code === 'EADDRINUSE'
        ? new PortInUseError('The embedded DynamoDB', config.DYNAMODB_PORT, 'DYNAMODB_PORT')
        : error;
    });
    cleanups.push(() => dynamo.close());
    const dynamoClient = new DynamoDBClient({
      endpoint: dynamo.endpoint,
      region: 'local',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    cleanups.push(() => dynamoClient.destroy());
    await ensureTables(dynamoClient, [
      { def: serviceTable, name: LOCAL_TABLES.service },
      { def: recordsTable, name: LOCAL_TABLES.records },
    ]);

    const sandbox = await startStripeSandbox({
      port: config.STRIPE_SANDBOX_PORT,
      host: config.HOST,
      // The manifest's allowed_redirect_uris (stripe-app.json) and this stack's own callback.
      allowedRedirectUris: [`${publicUrl}${CALLBACK_PATH}`],
      ...(memory ? {} : { stateFile: join(config.dataDir, 'stripe-sandbox.json') }),
    }).catch((error: NodeJS.ErrnoException) => {
      throw error.code === 'EADDRINUSE'
        ? new PortInUseError('The Stripe sandbox', config.STRIPE_SANDBOX_PORT, 'STRIPE_SANDBOX_PORT')
        : error;
    });
    cleanups.push(() => sandbox.close());
    sandbox.sandbox.installLinks.set('chnlink_localtest', 'test');
    sandbox.sandbox.installLinks.set('chnlink_locallive', 'live');
    // Like registering the endpoints in the Stripe app's settings, one per mode: each signs with
    // its own secret, and test-mode events reach the live endpoint too (as Stripe sends them).
    const webhookUrl = `http://${config.HOST}:${port}${WEBHOOK_PATH}`;
    for (const old of sandbox.sandbox.endpoints.filter((e) => e.url === webhookUrl && e.mode === 'all'))
      sandbox.sandbox.removeEndpoint(old.id); // one endpoint for both modes, as kept by an older stack
    sandbox.sandbox.addEndpoint(webhookUrl, 'test');
    sandbox.sandbox.addEndpoint(webhookUrl, 'live', undefined, { ownSecret: true });

    const issuer = await devIssuer(join(config.dataDir, 'dev-jwt-key.json'), {
      org: config.JWT_ORG_CLAIM,
      roles: config.JWT_ROLES_CLAIM,
    });
    const vault = new FileTokenVault(
      vaultKey(config),
      memory ? undefined : join(config.dataDir, 'token-vault.json'),
    );
    const bus = new LocalEventBus('defrr.stripe-connector');
    const queues = {
      sync: new LocalQueue<SyncJob>({
        name: 'sync',
        maxReceiveCount: 3,
        batchSize: 1,
        maxConcurrency: 4,
        functionTimeoutMs: options.sync?.functionTimeoutMs ?? 900_000,
        ...(memory ? {} : { stateFile: join(config.dataDir, 'queue-sync.json') }),
      }),
      webhooks: new LocalQueue<WebhookMessage>({
        name: 'webhooks',
        maxReceiveCount: 5,
        batchSize: 10,
        maxConcurrency: 2,
        ...(memory ? {} : { stateFile: join(config.dataDir, 'queue-webhooks.json') }),
      }),
    };
    cleanups.push(async () => {
      await Promise.all([queues.sync.stop(), queues.webhooks.stop()]);
    });
    let dispatch: () => Promise<unknown> = async () => undefined;
    let runSweep: () => Promise<SweepResult> = async () => ({
      resumed: 0,
      installsExpired: 0,
      secretsDeleted: 0,
    });
    const schedule = new LocalSchedule('nightly-sync', () => dispatch());
    cleanups.push(() => schedule.stop());
    if (config.LOCAL_SCHEDULE_MINUTES) schedule.start(config.LOCAL_SCHEDULE_MINUTES * 60_000);
    const sweeper = new LocalSchedule('sweep', () => runSweep());
    cleanups.push(() => sweeper.stop());

    const store = new DynamoConnectionStore(documentClient(dynamoClient), LOCAL_TABLES.service);
    const installs = new DynamoPendingInstallStore(documentClient(dynamoClient), LOCAL_TABLES.service);
    // The app's credentials are the sandbox's, read live (so a rolled webhook secret is seen at once).
    const credentials: AppCredentials = {
      secretKey: async (mode) => sandbox.sandbox.secretKeys[mode],
      webhookSecrets: async () => sandbox.sandbox.allWebhookSecrets(),
    };
    const db = documentClient(dynamoClient);
    const records = new DynamoRecordsStore(db, LOCAL_TABLES.records, () => clock.now());
    const ledger = new DynamoEventLedger(db, LOCAL_TABLES.service, 5 * 60_000, () => clock.now().getTime());
    const checkpoints = new DynamoCheckpointStore(db, LOCAL_TABLES.service);
    // What the functions are given: each adapter, wrapped when a test injects faults.
    const adapt = <T extends object>(name: string, adapter: T): T =>
      options.wrap?.adapter?.(name, adapter) ?? adapter;
    const deps = {
      store: adapt('store', store as ConnectionStore),
      installs: adapt('installs', installs as PendingInstallStore),
      vault: adapt('vault', vault as TokenVault),
      records: adapt('records', options.wrap?.records?.(records) ?? (records as RecordsStore)),
      ledger: adapt('ledger', options.wrap?.ledger?.(ledger) ?? (ledger as EventLedger)),
      checkpoints: adapt('checkpoints', options.wrap?.checkpoints?.(checkpoints) ?? checkpoints),
      requestShares: adapt(
        'requestShares',
        new DynamoRequestShares(db, LOCAL_TABLES.service) as RequestShares,
      ),
      syncQueue: adapt('syncQueue', queues.sync as JobQueue<SyncJob>),
      webhookQueue: adapt('webhookQueue', queues.webhooks as JobQueue<WebhookMessage>),
      bus: adapt('bus', bus as EventPublisher),
    };
    const processorDeps: ProcessDeps = {
      store: deps.store,
      vault: deps.vault,
      records: deps.records,
      ledger: deps.ledger,
      clock,
      syncQueue: deps.syncQueue,
      events: deps.bus,
    };
    queues.webhooks.consume(webhookProcessor(processorDeps));

    const access = new StripeAccess({
      store: deps.store,
      vault: deps.vault,
      tokens: new HttpStripeTokenClient(credentials, sandbox.url, config.STRIPE_TIMEOUT_MS),
      clock,
      client: { apiBase: sandbox.url, timeoutMs: config.STRIPE_TIMEOUT_MS, maxNetworkRetries: 0 },
      events: deps.bus,
    });
    const { functionTimeoutMs: _timeout, ...syncOverrides } = options.sync ?? {};
    const syncDeps: SyncDeps = {
      store: deps.store,
      vault: deps.vault,
      checkpoints: deps.checkpoints,
      records: deps.records,
      requestShares: deps.requestShares,
      access,
      syncQueue: deps.syncQueue,
      events: deps.bus,
      clock,
      config: {
        ...DEFAULT_SYNC_CONFIG,
        budgetTest: config.SYNC_BUDGET_TEST,
        budgetLive: config.SYNC_BUDGET_LIVE,
        fanOut: { ...DEFAULT_SYNC_CONFIG.fanOut, workers: config.SYNC_FANOUT_WORKERS },
        leaseMs: config.SYNC_LEASE_SECONDS * 1000,
        heartbeatMs: (config.SYNC_LEASE_SECONDS * 1000) / 4,
        ...syncOverrides,
      },
      ...(options.wrap?.onPageStored ? { onPageStored: options.wrap.onPageStored } : {}),
      ...(options.wrap?.onStripeRequest ? { onStripeRequest: options.wrap.onStripeRequest } : {}),
    };
    queues.sync.consume(syncWorker(syncDeps));
    const dispatcher = syncDispatcher({
      store: deps.store,
      installs: deps.installs,
      vault: deps.vault,
      syncQueue: deps.syncQueue,
      clock,
    });
    dispatch = () => {
      const context = lambdaContext('sync-dispatcher');
      return invoke(context, () => dispatcher(lambdaScheduledEvent(), context));
    };
    runSweep = () => {
      const context = lambdaContext('sync-dispatcher');
      return invoke(context, () => dispatcher({ action: 'sweep' }, context)) as Promise<SweepResult>;
    };
    if (config.LOCAL_SWEEP_SECONDS > 0) sweeper.start(config.LOCAL_SWEEP_SECONDS * 1000);
    const tokens = new HttpStripeTokenClient(credentials, sandbox.url, config.STRIPE_TIMEOUT_MS);
    const sandboxInfo = sandbox.sandbox;
    const handlers = localHttpHandlers({
      store: deps.store,
      records: deps.records,
      installs: deps.installs,
      vault: deps.vault,
      tokens,
      syncQueue: deps.syncQueue,
      webhookQueue: deps.webhookQueue,
      credentials,
      syncMinIntervalMs: config.SYNC_MIN_INTERVAL_SECONDS * 1000,
      events: deps.bus,
      clock,
      auth: config,
      connect: {
        STRIPE_CLIENT_ID: sandboxInfo.clientId,
        authorizeUrls: {
          // The app's External test links, one per mode (an unpublished app has no public link).
          test: `${sandbox.url}/oauth/v2/chnlink_localtest/authorize`,
          live: `${sandbox.url}/oauth/v2/chnlink_locallive/authorize`,
        },
        STRIPE_DEFAULT_MODE: 'test',
        OAUTH_REDIRECT_URI: `${publicUrl}${CALLBACK_PATH}`,
        TOKEN_SECRET_PREFIX: 'local/stripe/connections/',
        FRONTEND_ORIGINS: [publicUrl],
        FRONTEND_INTEGRATION_PATH: '/',
      },
    });
    const api = apiAdapter({
      routes,
      handlers,
      verifyJwt: (token) => issuer.verify(token),
      corsOrigins: [publicUrl],
    });

    handle = async (req, res) => {
      if (await api(req, res)) return;
      const url = new URL(req.url ?? '/', 'http://local.invalid');
      const route = `${req.method} ${url.pathname}`;
      const json = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
        res.end(JSON.stringify(body));
      };
      switch (route) {
        case 'GET /': {
          // The page signs an admin token for any org it is asked for: only for this machine's own use.
          if (!isLoopback(config.HOST) || !isLoopback(req.socket.remoteAddress ?? '')) {
            return json(403, {
              error: {
                code: 'dev_page_loopback_only',
                message:
                  'The dev integration page signs admin tokens, so it is served only when the stack is bound to loopback (HOST=127.0.0.1) and asked from this machine.',
              },
            });
          }
          const requested = url.searchParams.get('org') ?? config.LOCAL_ORG;
          const orgId = /^[A-Za-z0-9_-]{1,64}$/.test(requested) ? requested : config.LOCAL_ORG;
          // Each browser is its own dev user (a cookie), as each person signs in to Defrr as themselves:
          // an install started in one browser is not confirmed in another.
          const known = /(?:^|;\s*)defrr_dev_user=(user_dev_[a-f0-9]{16})(?:;|$)/.exec(
            req.headers.cookie ?? '',
          )?.[1];
          const user = known ?? `user_dev_${randomBytes(8).toString('hex')}`;
          const token = await issuer.issue({ org: orgId, roles: ['admin'], sub: user, expiresIn: '8h' });
          res.writeHead(200, {
            ...(known ? {} : { 'set-cookie': `defrr_dev_user=${user}; Path=/; HttpOnly; SameSite=Lax` }),
            'content-type': 'text/html; charset=utf-8',
            'cache-control': 'no-store',
            'content-security-policy':
              "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data:",
          });
          res.end(integrationPage({ token, orgId }));
          return;
        }
        case 'GET /v1/openapi.json':
          return json(200, openApiDocument(publicUrl));
        case 'GET /.well-known/jwks.json':
          return json(200, issuer.jwks);
        case 'POST /_local/sweep/run':
          return json(200, await runSweep());
        case 'POST /_local/schedule/run':
          await schedule.trigger();
          return json(202, { runs: schedule.runs });
        case 'GET /_local/reconcile': {
          // The oracle: an org's stored records against the sandbox's own objects (`npm run reconcile`).
          if (!isLoopback(req.socket.remoteAddress ?? ''))
            return json(403, { error: { code: 'loopback_only', message: 'Ask from this machine.' } });
          const orgId = url.searchParams.get('org') ?? '';
          let connection: Connection | undefined;
          try {
            connection = orgId
              ? await resolveConnection(store, orgId, url.searchParams.get('connection') ?? undefined)
              : undefined;
          } catch (error) {
            // Several connections and none named, or a name the org has not: say which.
            if (error instanceof HttpError)
              return json(error.statusCode, {
                error: {
                  code: error.code,
                  message: `${error.message} (org ${orgId}; name one with --connection <mode>_<account id>)`,
                },
              });
            throw error;
          }
          if (!connection)
            return json(404, {
              error: { code: 'not_connected', message: `No connection for org ${orgId}.` },
            });
          const scope = scopeOf(connection);
          const report = await reconcile(
            records,
            sandboxTruth(sandbox.sandbox, scope.accountId, scope.mode),
            scope,
            { compareObjects: url.searchParams.get('objects') !== 'false' },
          );
          return json(200, report);
        }
        case 'GET /_local/queues':
          return json(200, {
            sync: { depth: queues.sync.depth, deadLetters: queues.sync.deadLetters.length },
            webhooks: { depth: queues.webhooks.depth, deadLetters: queues.webhooks.deadLetters.length },
          });
        default:
          return json(404, { error: { code: 'not_found', message: 'Not found.' } });
      }
    };

    return {
      url: publicUrl,
      port,
      config,
      dynamo,
      dynamoClient,
      sandbox,
      issuer,
      vault,
      store,
      records,
      processorDeps,
      syncDeps,
      access,
      bus,
      queues,
      schedule,
      installs,
      sweep: () => runSweep(),
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/** 127.0.0.0/8, ::1 (and IPv4-mapped forms), or the name localhost. */
export function isLoopback(address: string): boolean {
  const plain = address.replace(/^::ffff:/, '');
  return plain === 'localhost' || plain === '::1' || /^127(\.\d{1,3}){3}$/.test(plain);
}

function lambdaScheduledEvent() {
  return {
    version: '0',
    id: randomBytes(8).toString('hex'),
    'detail-type': 'Scheduled Event' as const,
    source: 'aws.events' as const,
    account: '000000000000',
    time: new Date().toISOString(),
    region: 'local',
    resources: ['arn:aws:events:local:000000000000:rule/nightly-sync'],
    detail: {},
  };
}
