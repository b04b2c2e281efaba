import { spawnSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BatchWriteCommand } from '@aws-sdk/lib-dynamodb';
import autocannon from 'autocannon';
import { type BuildOptions, build } from 'esbuild';
import Stripe from 'stripe';
import { loadLocalConfig } from '../local/config.js';
import { startDynamoProcess } from '../local/embedded-dynamodb.js';
import { LOCAL_TABLES, type LocalStack, type LocalStackOptions, startLocalStack } from '../local/stack.js';
import { documentClient } from '../shared/adapters/dynamodb/document-client.js';
import {
  type Connection,
  type ConnectionRef,
  idleSync,
  refOf,
  slotFor,
} from '../shared/domain/connection.js';
import type { SyncJob } from '../shared/domain/sync-job.js';
import { routes } from '../shared/http/routes.js';
import { RESOURCES, recordVersion, resourceByName, type StripeObject } from '../shared/records/registry.js';
import { STRIPE_API_VERSION } from '../shared/stripe/api-version.js';
import { dispatchSyncs } from '../shared/sync/dispatch.js';
import { runSync } from '../shared/sync/sync-run.js';
import { feedIndexMeter } from './feed-index-meter.js';

const ROOT = join(__dirname, '..');
/** The test-mode budget the service ships with (SYNC_BUDGET_TEST's default). */
const SHIPPED_TEST_BUDGET = Number(loadLocalConfig({}).SYNC_BUDGET_TEST ?? 20);
const plenty = () => 900_000;
const seconds = (ms: number) => Math.round(ms) / 1000;

/** A local stack on free ports, in memory, quiet. */
export async function benchStack(
  env: Record<string, string> = {},
  options: LocalStackOptions = {},
): Promise<LocalStack> {
  const config = loadLocalConfig({
    PORT: '0',
    DYNAMODB_PORT: '0',
    STRIPE_SANDBOX_PORT: '0',
    DATA_DIR: mkdtempSync(join(tmpdir(), 'bench-')),
    LOG_LEVEL: 'ERROR',
    ...env,
  });
  return startLocalStack(config, { memory: true, ...options });
}

let accounts = 0;
/** A sandbox account of the given size, connected to a new org through the real OAuth flow. */
export async function connectedAccount(
  stack: LocalStack,
  counts: Record<string, number>,
  /** Connect another org to this account instead of adding one. */
  existing?: string,
  mode: 'test' | 'live' = 'test',
): Promise<{ accountId: string; orgId: string; job: SyncJob; ref: ConnectionRef }> {
  const suffix = String(++accounts).padStart(4, '0');
  const accountId = existing ?? `acct_1Bench${suffix}0000000`;
  const orgId = `org_bench_${suffix}`;
  // Only what the case asks for (payout transactions then name no payout object).
  const zero = {
    balance_transactions: 0,
    charges: 0,
    refunds: 0,
    invoices: 0,
    credit_notes: 0,
    disputes: 0,
    customers: 0,
    products: 0,
    prices: 0,
    coupons: 0,
    payouts: 0,
    subscriptions: 0,
  };
  if (!existing)
    stack.sandbox.sandbox.addAccount({
      id: accountId,
      name: `Bench ${suffix}`,
      counts: { ...zero, ...counts },
    });
  const code = stack.sandbox.sandbox.install(accountId, mode);
  const { state, token } = await startConnectDirect(stack, orgId, mode);
  const callback = new URL(`${stack.url}/v1/integrations/stripe/callback`);
  callback.searchParams.set('code', code);
  callback.searchParams.set('state', state);
  const response = await fetch(callback, { redirect: 'manual' });
  const install = new URL(response.headers.get('location') ?? 'http://x/').searchParams.get('install');
  if (!install) throw new Error(`connect failed: ${response.headers.get('location')}`);
  // The page's confirmation, by the user who started it.
  const confirmed = await fetch(`${stack.url}/v1/integrations/stripe/connect/confirm`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ install }),
  });
  if (confirmed.status !== 200) throw new Error(`confirm failed: ${confirmed.status}`);
  const [connection] = (await stack.store.listConnections(orgId)) as [Connection];
  return {
    accountId,
    orgId,
    ref: refOf(connection),
    job: { ...refOf(connection), connectionId: connection.connectionId, reason: 'initial' as const },
  };
}

async function startConnectDirect(stack: LocalStack, orgId: string, mode: 'test' | 'live' = 'test') {
  const token = await stack.issuer.issue({ org: orgId, roles: ['admin'] });
  const response = await fetch(`${stack.url}/v1/integrations/stripe/connect`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ mode }),
  });
  const body = (await response.json()) as { authorizeUrl: string };
  return { state: new URL(body.authorizeUrl).searchParams.get('state') as string, token };
}

/** CPU time of this process (user + system), in ms: the sync's, the sandbox's serving and the stack's. */
const cpuMs = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};

const DYNAMO_READS = new Set(['GetItemCommand', 'QueryCommand', 'BatchGetItemCommand', 'ScanCommand']);
const DYNAMO_WRITES = new Set([
  'PutItemCommand',
  'UpdateItemCommand',
  'DeleteItemCommand',
  'BatchWriteItemCommand',
  'TransactWriteItemsCommand',
]);

/**
 * Counts the DynamoDB requests a client sends, by operation, and the capacity units DynamoDB
 * says they consumed (each data request asks for them: ReturnConsumedCapacity TOTAL), while
 * `on` is set. One meter per client.
 */
export function meterDynamo(client: LocalStack['dynamoClient']) {
  const meter = {
    on: false,
    requests: {} as Record<string, number>,
    /** The same requests by what they are about: the kind of item, or the batch's kind. */
    byItem: {} as Record<string, number>,
    readUnits: 0,
    /** The table's, as DynamoDB (dynalite) reports them: dynalite leaves out its indexes'. */
    writeUnits: 0,
    /** The records' feed index's, counted here as DynamoDB bills them (`feedIndexUnits`). */
    indexWriteUnits: 0,
  };
  const feedIndex = feedIndexMeter();
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const name = String(context.commandName);
      const data = DYNAMO_READS.has(name) || DYNAMO_WRITES.has(name);
      // Every write that happened is seen, metered or not, so the index's entries are known when
      // metering starts; a write refused (its condition, an error) changed no entry.
      if (!meter.on || !data) {
        const result = await next(args);
        if (DYNAMO_WRITES.has(name)) feedIndex(name, args.input, unprocessedOf(result.output));
        return result;
      }
      meter.requests[name] = (meter.requests[name] ?? 0) + 1;
      const item = `${name.replace('Command', '')} ${itemKind(args.input)}`;
      meter.byItem[item] = (meter.byItem[item] ?? 0) + 1;
      const input = args.input as { ReturnConsumedCapacity?: string };
      input.ReturnConsumedCapacity ??= 'TOTAL';
      const result = await next(args);
      if (DYNAMO_WRITES.has(name))
        meter.indexWriteUnits += feedIndex(name, args.input, unprocessedOf(result.output));
      const consumed = (result.output as { ConsumedCapacity?: unknown }).ConsumedCapacity;
      for (const each of [consumed].flat() as Array<{ CapacityUnits?: number } | undefined>) {
        const units = each?.CapacityUnits ?? 0;
        if (DYNAMO_READS.has(name)) meter.readUnits += units;
        else meter.writeUnits += units;
      }
      return result;
    },
    { step: 'initialize', name: 'benchDynamoMeter' },
  );
  return meter;
}

const unprocessedOf = (output: unknown) => (output as { UnprocessedItems?: unknown }).UnprocessedItems;

/** What a DynamoDB request is about, for the meter: `_feed`, `CONNECTION`, `records`, … */
function itemKind(input: unknown): string {
  type Value = string | { S?: string } | undefined;
  const i = input as {
    TableName?: string;
    Key?: { pk?: Value; sk?: Value };
    Item?: { pk?: Value; sk?: Value };
    RequestItems?: Record<string, unknown>;
  };
  const text = (v: Value) => (typeof v === 'string' ? v : (v?.S ?? ''));
  if (i.RequestItems) return `in ${Object.keys(i.RequestItems).join(',').split('-').at(-1)}`;
  const key = i.Key ?? i.Item;
  const sk = text(key?.sk);
  const pk = text(key?.pk);
  if (!key) return `query ${i.TableName?.split('-').at(-1) ?? ''}`;
  const kind = sk.startsWith('_') ? sk : sk.split('#')[0] || pk.split('#')[0];
  return `${kind} (${i.TableName?.split('-').at(-1) ?? ''})`;
}

let plainRuns = 0;
/**
 * The plain loop a team would write first: stripe-node's `for await` auto-pagination over the
 * account's balance transactions, one BatchWriteItem of 25 at a time, no budget, no checkpoint,
 * no feed. `limit` stops it after that many records. Its records/s and CPU ms per record.
 */
export async function plainLoop(stack: LocalStack, ref: ConnectionRef, limit = Number.POSITIVE_INFINITY) {
  const { stripe } = await stack.access.forRef(ref);
  const db = documentClient(stack.dynamoClient);
  const pk = `plain#${++plainRuns}`;
  const write = async (batch: Array<Record<string, unknown>>) => {
    let pending = batch.map((Item) => ({ PutRequest: { Item } }));
    while (pending.length > 0) {
      const { UnprocessedItems } = await db.send(
        new BatchWriteCommand({ RequestItems: { [LOCAL_TABLES.records]: pending } }),
      );
      pending = (UnprocessedItems?.[LOCAL_TABLES.records] ?? []) as typeof pending;
    }
  };
  const cpu = cpuMs();
  const started = Date.now();
  let records = 0;
  let batch: Array<Record<string, unknown>> = [];
  for await (const object of stripe.balanceTransactions.list({ limit: 100 })) {
    batch.push({ pk, sk: object.id, data: JSON.stringify(object) });
    records++;
    if (batch.length === 25) {
      await write(batch);
      batch = [];
    }
    if (records >= limit) break;
  }
  if (batch.length > 0) await write(batch);
  const ms = Date.now() - started;
  return { records, ms, cpuMs: cpuMs() - cpu };
}

/** 1. The full sync against fetch-only and write-only on the same objects. */
export async function backfillEfficiency(records: number, mixed: Record<string, number>) {
  // Stripe's live-mode limit (100 req/s) as the budget: with no added latency it is not what binds.
  const stack = await benchStack({ SYNC_BUDGET_TEST: '100' }, { startDynamo: () => startDynamoProcess() });
  try {
    stack.queues.sync.pause();
    const { accountId, job, ref } = await connectedAccount(stack, { balance_transactions: records });
    const { stripe } = await stack.access.forRef(ref);
    const def = resourceByName('balance_transactions');
    if (!def) throw new Error('no registry entry');

    let started = Date.now();
    const pages: StripeObject[][] = [];
    let after: string | undefined;
    for (;;) {
      const page = await stripe.balanceTransactions.list({
        limit: 100,
        ...(after ? { starting_after: after } : {}),
      });
      pages.push(page.data as unknown as StripeObject[]);
      if (!page.has_more) break;
      after = page.data[page.data.length - 1]?.id;
    }
    const fetchOnlySeconds = seconds(Date.now() - started);

    started = Date.now();
    const observedAt = Math.floor(Date.now() / 1000);
    for (const page of pages) {
      await stack.records.putMany(
        page.map((object) => ({
          orgId: 'org_bench_write_only',
          mode: 'test',
          accountId,
          resource: 'balance_transactions',
          object,
          version: recordVersion(def, object, { at: observedAt, by: 'read' }),
          source: 'sync',
        })),
      );
    }
    const writeOnlySeconds = seconds(Date.now() - started);

    const since = Date.now();
    started = Date.now();
    const outcome = await runSync(stack.syncDeps, job, plenty);
    const syncSeconds = seconds(Date.now() - started);
    if (outcome.outcome !== 'completed') throw new Error(`sync ${outcome.outcome}`);
    const all = stack.sandbox.requests.filter((r) => r.account === accountId && r.at >= since);
    // The backfill's own list requests; the other resources' (empty) lists and event cursors are reported beside them,
    // and so is the catch-up read that follows a backfill in the same run (what was created meanwhile).
    const listed = all.filter((r) => r.route === 'GET /v1/balance_transactions');
    const requests = listed.filter(isBackfillPage).length;

    // A mixed account: every resource (and the lines invoices, credit notes and subscriptions
    // hold), the same pipeline.
    const mixedAccount = await connectedAccount(stack, mixed);
    const mixedSince = Date.now();
    started = Date.now();
    const mixedOutcome = await runSync(stack.syncDeps, mixedAccount.job, plenty);
    const mixedSeconds = seconds(Date.now() - started);
    if (mixedOutcome.outcome !== 'completed') throw new Error(`mixed sync ${mixedOutcome.outcome}`);
    const stored =
      (await stack.records.counts({
        orgId: mixedAccount.orgId,
        mode: 'test',
        accountId: mixedAccount.accountId,
      })) ?? {};
    const mixedRecords = Object.values(stored).reduce((a, b) => a + (b ?? 0), 0);
    const mixedRequests = stack.sandbox.requests.filter(
      (r) => r.account === mixedAccount.accountId && r.at >= mixedSince,
    );
    // Each list resource of at least 1,000 objects: its own list requests per 1,000 of them
    // (archived prices and the like are a second list of the same route).
    const perResource: Record<
      string,
      { objects: number; requests: number; per1000: number; catchUp: number }
    > = {};
    for (const def of RESOURCES) {
      const objects = stored[def.name] ?? 0;
      if (objects < 1_000) continue;
      const listedHere = mixedRequests.filter((r) => r.route === `GET /v1/${def.name}`);
      const requests = listedHere.filter(isBackfillPage).length;
      perResource[def.name] = {
        objects,
        requests,
        per1000: round((requests / objects) * 1000),
        catchUp: listedHere.length - requests,
      };
    }
    const worst = Object.values(perResource).reduce((max, r) => Math.max(max, r.per1000), 0);

    return {
      records,
      syncSeconds,
      fetchOnlySeconds,
      writeOnlySeconds,
      ratio: round(syncSeconds / Math.max(fetchOnlySeconds, writeOnlySeconds)),
      requestsPer1000: round((requests / records) * 1000),
      /** The same run's read of what was created during the backfill (and of pending transactions). */
      catchUpRequests: listed.length - requests,
      totalRequests: all.length,
      recordsPerSecond: Math.round(records / syncSeconds),
      mixed: {
        records: mixedRecords,
        seconds: mixedSeconds,
        recordsPerSecond: Math.round(mixedRecords / mixedSeconds),
        stored,
        /** Every Stripe request of the mixed account's sync, per 1,000 records stored. */
        requestsPer1000: round((mixedRequests.length / Math.max(1, mixedRecords)) * 1000),
        /** The worst list resource's own requests per 1,000 of its objects (those of ≥ 1,000). */
        worstListPer1000: worst,
        perResource,
      },
    };
  } finally {
    await stack.close();
  }
}

/**
 * 1b. The service against the plain loop on the same account at 0 ms pages, taking turns (plain,
 * service, plain, service…) so a machine that slows down mid-run slows both alike. Each service
 * turn is a new org's first sync of the account. Budget as in 1 (100/s): not what binds here.
 */
export async function plainBaseline(records: number, rounds = 2) {
  const stack = await benchStack({ SYNC_BUDGET_TEST: '100' }, { startDynamo: () => startDynamoProcess() });
  try {
    stack.queues.sync.pause();
    const meter = meterDynamo(stack.dynamoClient);
    const first = await connectedAccount(stack, { balance_transactions: records });
    const plain = { records: 0, ms: 0, cpuMs: 0 };
    const service = { records: 0, ms: 0, cpuMs: 0 };
    for (let round = 0; round < rounds; round++) {
      const p = await plainLoop(stack, first.ref);
      plain.records += p.records;
      plain.ms += p.ms;
      plain.cpuMs += p.cpuMs;
      const turn = round === 0 ? first : await connectedAccount(stack, {}, first.accountId);
      const cpu = cpuMs();
      const started = Date.now();
      meter.on = round === 0;
      const outcome = await runSync(stack.syncDeps, turn.job, plenty);
      meter.on = false;
      if (outcome.outcome !== 'completed') throw new Error(`sync ${outcome.outcome}`);
      service.ms += Date.now() - started;
      service.cpuMs += cpuMs() - cpu;
      service.records += records;
    }
    const plainRecordsPerSecond = Math.round((plain.records / plain.ms) * 1000);
    const serviceRecordsPerSecond = Math.round((service.records / service.ms) * 1000);
    const plainCpuMsPerRecord = round4(plain.cpuMs / plain.records);
    const serviceCpuMsPerRecord = round4(service.cpuMs / service.records);
    return {
      records,
      rounds,
      plainRecordsPerSecond,
      serviceRecordsPerSecond,
      ratio: round(serviceRecordsPerSecond / plainRecordsPerSecond),
      plainCpuMsPerRecord,
      serviceCpuMsPerRecord,
      cpuRatio: round(serviceCpuMsPerRecord / plainCpuMsPerRecord),
      /** The service's first turn: every DynamoDB request of the run, per 1,000 balance transactions. */
      dynamo: {
        requestsPer1000: round((Object.values(meter.requests).reduce((a, b) => a + b, 0) / records) * 1000),
        writeUnitsPer1000: round((meter.writeUnits / records) * 1000),
        /** The feed index's writes beside the table's: together, what DynamoDB bills. */
        indexWriteUnitsPer1000: round((meter.indexWriteUnits / records) * 1000),
        readUnitsPer1000: round((meter.readUnits / records) * 1000),
        requests: meter.requests,
        byItem: meter.byItem,
      },
    };
  } finally {
    await stack.close();
  }
}

const round4 = (n: number) => Math.round(n * 10_000) / 10_000;

/**
 * A backfill's page: a list bounded by `created[lt]` (the snapshot, or a slice), as opposed to the
 * incremental pass that follows it in the same run, which pages with `ending_before` or re-reads
 * pending objects by `created[gte]` and `created[lte]`.
 */
function isBackfillPage(request: { query: string }): boolean {
  const params = new URLSearchParams(request.query);
  return params.has('created[lt]') && !params.has('ending_before') && !params.has('created[lte]');
}

/**
 * 2. Pages that take 300 ms under the shipped test-mode budget (20 req/s), dynalite in its own
 * process as in production: records/s against what the budget allows for the requests the sync
 * needed (every one of them spent at the budget's rate), and against full pages at that rate.
 */
export async function latencyBound(
  records: number,
  sequentialRecords: number,
  latencyMs = 300,
  budget = SHIPPED_TEST_BUDGET,
) {
  const stack = await benchStack(
    { SYNC_BUDGET_TEST: String(budget) },
    { startDynamo: () => startDynamoProcess() },
  );
  try {
    stack.queues.sync.pause();
    const slow = (accountId: string) =>
      stack.sandbox.faults.push(
        ...[
          'GET /v1/balance_transactions',
          'GET /v1/events',
          'GET /v1/charges',
          'GET /v1/refunds',
          'GET /v1/invoices',
          'GET /v1/credit_notes',
          'GET /v1/disputes',
          'GET /v1/account',
        ].map((route) => ({
          id: `slow-${route}`,
          route,
          account: accountId,
          kind: 'latency' as const,
          rate: 1,
          latencyMs,
          seen: 0,
        })),
      );
    const parallel = await connectedAccount(stack, { balance_transactions: records });
    slow(parallel.accountId);
    // The plain loop on the same account before and after the service's turn (it ignores the
    // budget: at 300 ms a page, one request at a time stays far under it).
    const plainBefore = await plainLoop(stack, parallel.ref, sequentialRecords);
    const since = Date.now();
    let started = Date.now();
    const outcome = await runSync(stack.syncDeps, parallel.job, plenty);
    if (outcome.outcome !== 'completed') throw new Error(`sync ${outcome.outcome}`);
    const parallelSeconds = (Date.now() - started) / 1000;
    const plainAfter = await plainLoop(stack, parallel.ref, sequentialRecords);
    const plainRecordsPerSecond = Math.round(
      ((plainBefore.records + plainAfter.records) / (plainBefore.ms + plainAfter.ms)) * 1000,
    );
    const perSecond = new Map<number, number>();
    let needed = 0;
    for (const r of stack.sandbox.requests) {
      if (r.account !== parallel.accountId || r.at < since || r.at > since + parallelSeconds * 1000) continue;
      needed++;
      const second = Math.floor(r.at / 1000);
      perSecond.set(second, (perSecond.get(second) ?? 0) + 1);
    }

    const sequential = await connectedAccount(stack, { balance_transactions: sequentialRecords });
    slow(sequential.accountId);
    started = Date.now();
    await runSync(
      { ...stack.syncDeps, config: { ...stack.syncDeps.config, maxSlices: 1 } },
      sequential.job,
      plenty,
    );
    const sequentialSeconds = (Date.now() - started) / 1000;

    // What the budget allows for the requests this sync needed: all of them at `budget` a second.
    const allowedRecordsPerSecond = Math.round(records / (needed / budget));
    // The budget's bound if every request were a full page of 100, whatever the latency.
    const boundRecordsPerSecond = budget * 100;
    const recordsPerSecond = Math.round(records / parallelSeconds);
    return {
      records,
      budget,
      requests: needed,
      seconds: round(parallelSeconds),
      recordsPerSecond,
      allowedRecordsPerSecond,
      fraction: round(recordsPerSecond / allowedRecordsPerSecond),
      boundRecordsPerSecond,
      fractionOfFullPages: round(recordsPerSecond / boundRecordsPerSecond),
      /** The plain stripe-node loop on the same account, same 300 ms pages, in the same run. */
      plainRecordsPerSecond,
      plainRatio: round(recordsPerSecond / plainRecordsPerSecond),
      sequentialRecordsPerSecond: Math.round(sequentialRecords / sequentialSeconds),
      maxRequestsInAnySecond: Math.max(0, ...perSecond.values()),
    };
  } finally {
    await stack.close();
  }
}

/** 3. Requests per resource for a sync with no change, and with 1,000 new objects. */
export async function incrementalRequests(newObjects: number) {
  const stack = await benchStack({ SYNC_BUDGET_TEST: '1000' });
  try {
    stack.queues.sync.pause();
    const counts = {
      balance_transactions: 500,
      charges: 400,
      refunds: 60,
      invoices: 120,
      credit_notes: 20,
      disputes: 10,
    };
    const { accountId, job } = await connectedAccount(stack, counts);
    await runSync(stack.syncDeps, job, plenty);
    const perResource = async () => {
      const since = Date.now();
      await runSync(stack.syncDeps, job, plenty);
      const requests = stack.sandbox.requests.filter(
        (r) => r.account === accountId && r.at >= since && r.method === 'GET',
      );
      const by: Record<string, number> = {};
      for (const def of RESOURCES) {
        by[def.name] = requests.filter((r) =>
          def.eventTypes.length > 0
            ? r.route === 'GET /v1/events' && r.query.includes(def.eventTypes[0] as string)
            : r.route === `GET /v1/${def.name}`,
        ).length;
      }
      return by;
    };
    const noChange = await perResource();
    for (let i = 0; i < newObjects; i++) stack.sandbox.sandbox.createActivity(accountId, 'test', 'charge');
    const afterNew = await perResource();
    return {
      requestsNoChange: Math.max(...Object.values(noChange)),
      requestsFor1000New: Math.max(...Object.values(afterNew)),
      newObjects,
      perResourceNoChange: noChange,
      perResourceNew: afterNew,
    };
  } finally {
    await stack.close();
  }
}

/** The packages counted as "SDK clients" for a function's floor bundle. */
const SDK = /node_modules\/((@aws-sdk\/(client-[a-z0-9-]+|lib-dynamodb))|stripe)\//;

/** The same esbuild settings the CDK function construct uses (infra/constructs/service-function.ts). */
export const BUNDLE_OPTIONS: BuildOptions = {
  bundle: true,
  minify: true,
  sourcemap: true,
  platform: 'node',
  target: 'node22',
  format: 'esm',
  mainFields: ['module', 'main'],
  banner: {
    js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
  },
  logLevel: 'silent',
};

/**
 * The floor: each SDK package's client class, exported so that it stays in the bundle.
 * A bare `import 'pkg'` does not: the AWS SDK's packages declare `"sideEffects": false`,
 * so esbuild drops them whole, and such a floor would hold none of the clients the
 * function pays for.
 */
function floorClients(packages: Iterable<string>) {
  const requireFromRoot = createRequire(join(ROOT, 'package.json'));
  return [...packages].map((pkg) => {
    if (pkg === 'stripe') return { names: ['Stripe'], source: `export { default as Stripe } from 'stripe';` };
    const exports: Record<string, unknown> = requireFromRoot(pkg);
    const names = Object.keys(exports).filter(
      (k) => /^[A-Z]\w*Client$/.test(k) && typeof exports[k] === 'function',
    );
    if (names.length === 0) throw new Error(`no client class found in ${pkg}`);
    return { names, source: `export { ${names.join(', ')} } from ${JSON.stringify(pkg)};` };
  });
}

async function bundle(entry: string, outfile: string) {
  const result = await build({ ...BUNDLE_OPTIONS, entryPoints: [entry], outfile, metafile: true });
  if (!result.metafile) throw new Error('esbuild gave no metafile');
  return result.metafile;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

/** A Lambda container running one invocation at a time (this process may run the local stack's many). */
function lambdaEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const { AWS_LAMBDA_MAX_CONCURRENCY: _concurrent, ...env } = process.env;
  return { ...env, ...extra };
}

/**
 * Module init of each bundle: `import` in a fresh node process, `runs` rounds, each bundle's
 * times by round. The bundles take turns within a round, so a machine that slows down mid-run
 * slows all of them alike; pairedRatio compares them round by round.
 */
function initTimes(
  files: string[],
  runs: number,
  env: Record<string, string>,
  /** Node's own options for each file's process (by index). */
  nodeOptions: string[][] = [],
): number[][] {
  const times = files.map((): number[] => []);
  for (let i = 0; i < runs; i++) {
    files.forEach((file, j) => {
      const script = `const t=process.hrtime.bigint();await import(${JSON.stringify(file)});process.stdout.write(String(Number(process.hrtime.bigint()-t)/1e6))`;
      const out = spawnSync(
        process.execPath,
        [...(nodeOptions[j] ?? []), '--input-type=module', '-e', script],
        {
          env: lambdaEnv(env),
          encoding: 'utf8',
        },
      );
      if (out.status !== 0) throw new Error(`init of ${file} failed: ${out.stderr.slice(0, 500)}`);
      times[j]?.push(Number(out.stdout));
    });
  }
  return times;
}

/**
 * A ratio of two bundles' inits, paired by round: the median of each round's ratio. The two
 * ran one after the other, so a busy moment slows both and cancels out, where a ratio of two
 * medians from different moments does not.
 */
function pairedRatio(times: number[], against: number[]): number {
  return median(times.map((t, i) => t / Math.max(0.01, against[i] ?? 0)));
}

function pairedDifference(times: number[], against: number[]): number {
  return median(times.map((t, i) => t - (against[i] ?? 0)));
}

/** What every function's configuration asks for, as dummy values: init must not fail on config. */
const COLD_START_ENV = {
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'bench',
  AWS_SECRET_ACCESS_KEY: 'bench',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  SERVICE_TABLE_NAME: 'svc',
  RECORDS_TABLE_NAME: 'rec',
  JWT_ORG_CLAIM: 'org_id',
  JWT_ROLES_CLAIM: 'roles',
  JWT_ADMIN_ROLE: 'admin',
  FRONTEND_ORIGINS: 'https://app.example',
  FRONTEND_INTEGRATION_PATH: '/stripe',
  STRIPE_CLIENT_ID: 'ca_bench',
  STRIPE_AUTHORIZE_URL_TEST: 'https://marketplace.stripe.com/oauth/v2/chnlink_x/authorize',
  STRIPE_DEFAULT_MODE: 'test',
  OAUTH_REDIRECT_URI: 'https://api.example/v1/integrations/stripe/callback',
  TOKEN_SECRET_PREFIX: 'p/',
  KMS_KEY_ID: 'arn:aws:kms:us-east-1:000000000000:key/x',
  APP_CREDENTIALS_SECRET_ID: 'app',
  WEBHOOK_SECRETS_SECRET_ID: 'hooks',
  SYNC_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/000000000000/sync',
  WEBHOOK_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/000000000000/webhooks',
  EVENT_BUS_NAME: 'bus',
  POWERTOOLS_METRICS_NAMESPACE: 'Bench',
};

/** 4. Each function's bundle against a floor bundle importing only the same SDK clients. */
export async function coldStart(runs: number) {
  const dir = mkdtempSync(join(tmpdir(), 'bundles-'));
  const functionsDir = join(ROOT, 'functions');
  const names = readdirSync(functionsDir).filter((n) => statSync(join(functionsDir, n)).isDirectory());
  const functions: Record<
    string,
    {
      bytes: number;
      initMs: number;
      floorInitMs: number;
      ratio: number;
      includesStripe: boolean;
      floorBytes: number;
      floorClients: string[];
      /** Behind API Gateway: a caller waits for its cold start. */
      http: boolean;
      /** The floor's clients plus the libraries' init (zod config, middy, logger), none of ours. */
      librariesInitMs: number;
      librariesRatio: number;
      overFloorMs: number;
    }
  > = {};
  const httpFunctions = new Set<string>(routes.map((route) => route.function));
  for (const name of names) {
    const out = join(dir, name, 'index.mjs');
    mkdirSync(join(dir, name), { recursive: true });
    const meta = await bundle(join(functionsDir, name, 'index.ts'), out);
    // The metafile's inputs list every module esbuild read, also those tree-shaken
    // away; only the output's inputs with bytes in it are in the bundle.
    const output = Object.values(meta.outputs).find((o) => o.entryPoint);
    if (!output) throw new Error(`esbuild gave no output for ${name}`);
    const packages = new Set<string>();
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      const match = input.match(SDK);
      if (match?.[1] && bytesInOutput > 0) packages.add(match[1]);
    }
    const floorEntry = join(dir, name, 'floor-entry.mjs');
    const clients = floorClients(packages);
    writeFileSync(floorEntry, clients.map((c) => c.source).join('\n') || '// no SDK client');
    const floorOut = join(dir, name, 'floor.mjs');
    await build({
      ...BUNDLE_OPTIONS,
      entryPoints: [floorEntry],
      outfile: floorOut,
      nodePaths: [join(ROOT, 'node_modules')],
    });
    // The same clients with what the libraries do at init: the service's own code is the difference.
    const librariesEntry = join(dir, name, 'libraries-entry.mjs');
    writeFileSync(
      librariesEntry,
      `${clients.map((c) => c.source).join('\n')}\nexport { client as __client, handler as __handler } from ${JSON.stringify(join(ROOT, 'bench', 'cold-start', 'stack.ts'))};\n`,
    );
    const librariesOut = join(dir, name, 'libraries.mjs');
    await build({
      ...BUNDLE_OPTIONS,
      entryPoints: [librariesEntry],
      outfile: librariesOut,
      nodePaths: [join(ROOT, 'node_modules')],
    });
    const [inits = [], floorInits = [], librariesInits = []] = initTimes(
      [out, floorOut, librariesOut],
      runs,
      COLD_START_ENV,
    );
    functions[name] = {
      http: httpFunctions.has(name),
      librariesInitMs: round(median(librariesInits)),
      librariesRatio: round(pairedRatio(inits, librariesInits)),
      overFloorMs: round(pairedDifference(inits, floorInits)),
      bytes: statSync(out).size,
      initMs: round(median(inits)),
      floorInitMs: round(median(floorInits)),
      ratio: round(pairedRatio(inits, floorInits)),
      includesStripe: packages.has('stripe'),
      floorBytes: statSync(floorOut).size,
      floorClients: clients.flatMap((c) => c.names).sort(),
    };
  }
  const http = Object.values(functions).filter((f) => f.http);
  // What Node's source maps add to an init: the HTTP functions run without them (infra),
  // the others with. Measured on the largest HTTP bundle, with and without, round by round.
  const [largest] = Object.entries(functions)
    .filter(([, f]) => f.http)
    .sort(([, a], [, b]) => b.bytes - a.bytes);
  if (!largest) throw new Error('no HTTP function to measure');
  const largestOut = join(dir, largest[0], 'index.mjs');
  const [without = [], withMaps = []] = initTimes([largestOut, largestOut], runs, COLD_START_ENV, [
    [],
    ['--enable-source-maps'],
  ]);
  const sourceMaps = {
    function: largest[0],
    withoutMs: round(median(without)),
    withMs: round(median(withMaps)),
    addedMs: round(pairedDifference(withMaps, without)),
    ratio: round(pairedRatio(withMaps, without)),
  };
  return {
    sourceMaps,
    maxInitRatio: Math.max(...Object.values(functions).map((f) => f.ratio)),
    /** The HTTP functions' worst init against their own libraries-alone bundle, same run. */
    maxHttpLibrariesRatio: Math.max(...http.map((f) => f.librariesRatio)),
    /** The HTTP functions' worst init over their floor, in ms (a target on a quiet machine). */
    maxHttpOverFloorMs: Math.max(...http.map((f) => f.overFloorMs)),
    functions,
    breakdown: await coldStartBreakdown(dir, runs),
  };
}

/**
 * Where an HTTP function's init goes beyond its floor: the DynamoDB floor with
 * one part added at a time (bench/cold-start/*.ts), in ms over that floor.
 */
async function coldStartBreakdown(dir: string, runs: number) {
  const parts = ['floor', 'clients', 'zod', 'logger', 'http-chain', 'stack'] as const;
  const files = await Promise.all(
    parts.map(async (part) => {
      const out = join(dir, 'parts', `${part}.mjs`);
      await bundle(join(ROOT, 'bench', 'cold-start', `${part}.ts`), out);
      return out;
    }),
  );
  const [floors = [], ...rest] = initTimes(files, runs, COLD_START_ENV);
  const floor = median(floors);
  const over = (i: number) => round(pairedDifference(rest[i] ?? [], floors));
  return {
    floorMs: round(floor),
    createClientsMs: over(0),
    zodConfigMs: over(1),
    powertoolsLoggerMs: over(2),
    middyChainMs: over(3),
    librariesOnlyMs: over(4),
    librariesOnlyRatio: round(pairedRatio(rest[4] ?? [], floors)),
  };
}

/** 5. The local webhook endpoint under load against a bare server doing only the signature check. */
export async function webhookIntake(durationSeconds: number, connections = 50) {
  const stack = await benchStack();
  const bare = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        Stripe.webhooks.constructEvent(
          Buffer.concat(chunks),
          String(req.headers['stripe-signature']),
          secret,
        );
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"received":true}');
      } catch {
        res.writeHead(400);
        res.end();
      }
    });
  });
  const secret = stack.sandbox.sandbox.webhookSecrets[0] as string;
  try {
    // The intake is measured, not the processor: let the queue hold what arrives.
    stack.queues.webhooks.pause();
    bare.listen(0, '127.0.0.1');
    await once(bare, 'listening');
    const body = JSON.stringify({
      id: 'evt_bench0000000000000001',
      object: 'event',
      api_version: STRIPE_API_VERSION,
      created: Math.floor(Date.now() / 1000),
      data: {
        object: { id: 'ch_bench', object: 'charge', amount: 1000, currency: 'usd', created: 1_790_000_000 },
      },
      livemode: false,
      pending_webhooks: 1,
      request: { id: null, idempotency_key: null },
      type: 'charge.succeeded',
      account: 'acct_1BenchNobody000000',
    });
    const timestamp = Math.floor(Date.now() / 1000);
    const signature = `t=${timestamp},v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
    const load = (url: string, duration = durationSeconds) =>
      autocannon({
        url,
        method: 'POST',
        connections,
        duration,
        headers: { 'content-type': 'application/json', 'stripe-signature': signature },
        body,
      });
    const oursUrl = `${stack.url}/v1/webhooks/stripe`;
    const bareUrl = `http://127.0.0.1:${(bare.address() as AddressInfo).port}/`;
    // Both servers warm up first (JIT, first-call init), so neither's figure includes its own warm-up.
    await load(oursUrl, 1);
    await load(bareUrl, 1);
    const queuedBefore = stack.queues.webhooks.depth;
    // Short turns, taken in alternation, so a machine that slows down for a while slows both alike.
    const turns = Math.max(1, Math.round(durationSeconds / 2));
    const ours = { requests: 0, seconds: 0, p99: 0, failed: 0 };
    const baseline = { requests: 0, seconds: 0 };
    for (let turn = 0; turn < turns; turn++) {
      const a = await load(oursUrl, durationSeconds / turns);
      ours.requests += a.requests.total;
      ours.seconds += a.duration;
      ours.p99 = Math.max(ours.p99, a.latency.p99);
      ours.failed += a.non2xx + a.errors;
      const b = await load(bareUrl, durationSeconds / turns);
      baseline.requests += b.requests.total;
      baseline.seconds += b.duration;
    }
    const oursRate = ours.requests / ours.seconds;
    const bareRate = baseline.requests / baseline.seconds;
    return {
      requestsPerSecond: Math.round(oursRate),
      p99Ms: ours.p99,
      bareRequestsPerSecond: Math.round(bareRate),
      ratio: round(oursRate / bareRate),
      non2xx: ours.failed,
      /** Answered deliveries, and messages queued (more: some were in flight when a turn ended). */
      requests: ours.requests,
      queued: stack.queues.webhooks.depth - queuedBefore,
    };
  } finally {
    bare.close();
    await stack.close();
  }
}

/** 6. The nightly fan-out over `connections` connected orgs. */
export async function fanout(connections: number) {
  const stack = await benchStack();
  try {
    stack.queues.sync.pause();
    const now = new Date().toISOString();
    for (let i = 0; i < connections; i += 50) {
      await Promise.all(
        Array.from({ length: Math.min(50, connections - i) }, (_, j) =>
          stack.store.putConnection(
            {
              orgId: `org_fan_${i + j}`,
              slot: slotFor('test', 'acct_1FanOut000000000'),
              connectionId: `conn_fan_${i + j}`,
              status: 'connected',
              statusReason: null,
              accountId: 'acct_1FanOut000000000',
              livemode: false,
              scope: 'stripe_apps',
              secretName: `s/${i + j}`,
              connectedAt: now,
              connectedBy: 'bench',
              updatedAt: now,
              version: 1,
              sync: idleSync(),
            },
            null,
          ),
        ),
      );
    }
    const started = Date.now();
    const result = await dispatchSyncs({
      store: stack.store,
      syncQueue: stack.queues.sync,
      clock: { now: () => new Date() },
    });
    return {
      connections: result.queued,
      seconds: seconds(Date.now() - started),
      batchCalls: result.batchCalls,
    };
  } finally {
    await stack.close();
  }
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}

/**
 * The change feed, read as Defrr reads it: `records` balance transactions in one connection's
 * feed (dynalite in a process of its own, as DynamoDB is remote in AWS), read from cursor
 * zero in pages of 1,000 by the records API's reader (the object decoded, the response
 * rendered) against a plain DynamoDB Query of the same items (pages of 1,000, nothing
 * decoded), alternately, best of each; then the latency of one page of 1,000 at 50
 * concurrent readers, each at a random cursor.
 */
export async function feedRead(records: number, readers = 50) {
  const { DynamoDBClient } = await import('@aws-sdk/client-dynamodb');
  const { QueryCommand } = await import('@aws-sdk/lib-dynamodb');
  const { documentClient } = await import('../shared/adapters/dynamodb/document-client.js');
  const { DynamoRecordsStore, FEED_SETTLE_MS } = await import('../shared/adapters/dynamodb/records-store.js');
  const { ensureTables } = await import('../shared/data/ensure-tables.js');
  const { recordsTable } = await import('../shared/data/tables.js');
  const { recordKeys } = await import('../shared/data/keys.js');
  const { encodeCursor } = await import('../shared/records/feed-cursor.js');
  const dynamo = await startDynamoProcess();
  const client = new DynamoDBClient({
    endpoint: dynamo.endpoint,
    region: 'local',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  try {
    const table = 'bench-feed-records';
    await ensureTables(client, [{ def: recordsTable, name: table }]);
    const db = documentClient(client);
    const writer = new DynamoRecordsStore(db, table);
    // Read as a reader would once the writes have settled.
    const reader = new DynamoRecordsStore(db, table, () => new Date(Date.now() + FEED_SETTLE_MS + 1000));
    const scope = { orgId: 'org_bench_feed', mode: 'test' as const, accountId: 'acct_1BenchFeed000000000' };
    const created = 1_700_000_000;
    for (let i = 0; i < records; i += 1000) {
      const batch = Array.from({ length: Math.min(1000, records - i) }, (_, j) => {
        const n = i + j;
        const object: StripeObject = {
          id: `txn_${String(n).padStart(24, '0')}`,
          object: 'balance_transaction',
          amount: 1000 + (n % 5000),
          available_on: created + n,
          created: created + n,
          currency: 'usd',
          description: `Payment for invoice ${n}`,
          exchange_rate: null,
          fee: 59,
          fee_details: [
            {
              amount: 59,
              application: null,
              currency: 'usd',
              description: 'Stripe processing fees',
              type: 'stripe_fee',
            },
          ],
          net: 941 + (n % 5000),
          reporting_category: 'charge',
          source: `ch_${String(n).padStart(24, '0')}`,
          status: 'available',
          type: 'charge',
        };
        return {
          ...scope,
          resource: 'balance_transactions' as const,
          object,
          version: `${created + n}:0`,
          source: 'sync' as const,
          apiVersion: STRIPE_API_VERSION,
        };
      });
      await writer.putMany(batch);
    }
    const render = (page: Awaited<ReturnType<typeof reader.changes>>) =>
      JSON.stringify({
        object: 'list',
        data: page.changes.map((c) => ({
          resource: c.resource,
          id: c.objectId,
          cursor: encodeCursor(scope, c.seq),
          action: c.action,
          first_seen_at: c.firstSeenAt,
          last_modified_at: c.lastModifiedAt,
          object: c.object,
        })),
        next: encodeCursor(scope, page.next),
        has_more: page.hasMore,
      }).length;
    const viaFeed = async () => {
      const started = performance.now();
      let read = 0;
      let after = 0;
      for (;;) {
        const page = await reader.changes(scope, { after, limit: 1000 });
        render(page);
        read += page.changes.length;
        after = page.next;
        if (!page.hasMore) break;
      }
      return { read, ms: performance.now() - started };
    };
    const plainQuery = async () => {
      const started = performance.now();
      let read = 0;
      let start: Record<string, unknown> | undefined;
      do {
        const page = await db.send(
          new QueryCommand({
            TableName: table,
            KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
            ExpressionAttributeValues: {
              ':pk': recordKeys.partition(scope),
              ':prefix': 'balance_transactions#',
            },
            Limit: 1000,
            ...(start ? { ExclusiveStartKey: start } : {}),
          }),
        );
        read += page.Items?.length ?? 0;
        start = page.LastEvaluatedKey;
      } while (start);
      return { read, ms: performance.now() - started };
    };
    let feedBest = Number.POSITIVE_INFINITY;
    let plainBest = Number.POSITIVE_INFINITY;
    for (let round = 0; round < 3; round++) {
      const plain = await plainQuery();
      const feed = await viaFeed();
      if (feed.read !== records || plain.read !== records)
        throw new Error(`read ${feed.read} through the feed and ${plain.read} by Query, not ${records}`);
      plainBest = Math.min(plainBest, plain.ms);
      feedBest = Math.min(feedBest, feed.ms);
    }
    // One page of 1,000 from a random cursor, 50 readers at once, 5 pages each.
    const latencies: number[] = [];
    await Promise.all(
      Array.from({ length: readers }, async () => {
        for (let k = 0; k < 5; k++) {
          const after = Math.floor(Math.random() * Math.max(1, records - 1000));
          const started = performance.now();
          render(await reader.changes(scope, { after, limit: 1000 }));
          latencies.push(performance.now() - started);
        }
      }),
    );
    latencies.sort((a, b) => a - b);
    const p = (q: number) =>
      Math.round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0);
    const perSecond = (ms: number) => Math.round((records / ms) * 1000);
    return {
      records,
      recordsPerSecond: perSecond(feedBest),
      plainQueryRecordsPerSecond: perSecond(plainBest),
      ratio: Math.round((plainBest / feedBest) * 100) / 100,
      readers,
      pageP50Ms: p(0.5),
      pageP99Ms: p(0.99),
    };
  } finally {
    client.destroy();
    await dynamo.close();
  }
}

/**
 * 9. The nightly run as a designed figure. `connections` small accounts, connected and synced
 * once; then, with every Stripe request taking `latencyMs` (Stripe's own latency, which is what
 * an unchanged account's run waits on), a share of them changed, and nightly runs through the
 * real dispatcher and the worker's queue at each concurrency in turn. For each: the wall time,
 * connections per second, and what a run costs (Stripe requests, DynamoDB requests and units).
 * Then a sample of runs one at a time: the run time itself, from which `nightlyModel` derives
 * the concurrency that finishes 100,000 connections within the hour.
 */
export async function nightlyRun(
  connections: number,
  concurrencies: readonly number[],
  latencyMs = 300,
  changedShare = 0.1,
  sample = 20,
) {
  const stack = await benchStack(
    { SYNC_BUDGET_TEST: String(SHIPPED_TEST_BUDGET) },
    { startDynamo: () => startDynamoProcess() },
  );
  try {
    stack.queues.sync.pause();
    const accounts: Array<Awaited<ReturnType<typeof connectedAccount>>> = [];
    for (let i = 0; i < connections; i++)
      accounts.push(await connectedAccount(stack, { balance_transactions: 6, charges: 3, customers: 2 }));
    // Their first syncs, at no added latency.
    stack.queues.sync.options.maxConcurrency = 8;
    stack.queues.sync.resume();
    await stack.queues.sync.idle(30 * 60_000);
    stack.sandbox.faults.push({
      id: 'nightly-latency',
      route: '*',
      kind: 'latency',
      rate: 1,
      latencyMs,
      seen: 0,
    });
    const meter = meterDynamo(stack.dynamoClient);
    const rounds: Array<{
      concurrency: number;
      connections: number;
      seconds: number;
      connectionsPerSecond: number;
      stripeRequestsPerRun: number;
      dynamoRequestsPerRun: number;
      writeUnitsPerRun: number;
      indexWriteUnitsPerRun: number;
      readUnitsPerRun: number;
    }> = [];
    let changed = 0;
    for (const concurrency of concurrencies) {
      // What changed since the last run: a new charge on a share of the accounts.
      for (let i = 0; i < Math.round(connections * changedShare); i++) {
        const account = accounts[changed++ % accounts.length] as (typeof accounts)[number];
        stack.sandbox.sandbox.createActivity(account.accountId, 'test', 'charge');
      }
      await stack.sandbox.sandbox.webhooksIdle(120_000);
      await stack.queues.webhooks.idle(10 * 60_000);
      // A webhook may have queued a sync (an invoice's lines): it ends before the night starts.
      await stack.queues.sync.idle(10 * 60_000);
      const requestsBefore = stack.sandbox.requests.length;
      Object.assign(meter, {
        requests: {},
        byItem: {},
        readUnits: 0,
        writeUnits: 0,
        indexWriteUnits: 0,
        on: true,
      });
      stack.queues.sync.options.maxConcurrency = concurrency;
      const started = Date.now();
      const dispatched = await dispatchSyncs({
        store: stack.store,
        syncQueue: stack.queues.sync,
        clock: { now: () => new Date() },
      });
      await stack.queues.sync.idle(60 * 60_000);
      const ms = Date.now() - started;
      meter.on = false;
      const stripe = stack.sandbox.requests
        .slice(requestsBefore)
        .filter((r) => r.account !== undefined && r.method === 'GET').length;
      const requests = Object.values(meter.requests).reduce((a, b) => a + b, 0);
      rounds.push({
        concurrency,
        connections: dispatched.queued,
        seconds: seconds(ms),
        connectionsPerSecond: round((dispatched.queued / ms) * 1000),
        stripeRequestsPerRun: round(stripe / dispatched.queued),
        dynamoRequestsPerRun: round(requests / dispatched.queued),
        writeUnitsPerRun: round(meter.writeUnits / dispatched.queued),
        indexWriteUnitsPerRun: round(meter.indexWriteUnits / dispatched.queued),
        readUnitsPerRun: round(meter.readUnits / dispatched.queued),
      });
    }
    // Runs one at a time: how long one takes when nothing else competes for this machine.
    const times: number[] = [];
    for (const account of accounts.slice(0, sample)) {
      const started = Date.now();
      const outcome = await runSync(stack.syncDeps, { ...account.job, reason: 'nightly' }, plenty);
      if (outcome.outcome !== 'completed') throw new Error(`nightly run ${outcome.outcome}`);
      times.push(Date.now() - started);
    }
    times.sort((a, b) => a - b);
    return {
      connections,
      latencyMs,
      changedShare,
      rounds,
      runSeconds: {
        p50: seconds(times[Math.floor((times.length - 1) / 2)] ?? 0),
        p95: seconds(times[Math.floor((times.length - 1) * 0.95)] ?? 0),
        mean: seconds(times.reduce((a, b) => a + b, 0) / Math.max(1, times.length)),
      },
    };
  } finally {
    await stack.close();
  }
}

/** Lambda's price per GB-second (x86, us-east-1) and DynamoDB on-demand's per million units. */
const PRICES = {
  lambdaGbSecond: 0.0000166667,
  lambdaRequest: 0.2 / 1e6,
  writeUnit: 1.25 / 1e6,
  readUnit: 0.25 / 1e6,
};

/**
 * The nightly window at `target` connections: the concurrency that runs them all within
 * `windowSeconds` at `utilisation` of it (runs are not evenly long, and retries happen),
 * from the measured run time; and what a night costs in Lambda and DynamoDB.
 */
export function nightlyModel(
  run: Awaited<ReturnType<typeof nightlyRun>>,
  memoryMb: number,
  shippedConcurrency: number,
  target = 100_000,
  windowSeconds = 3600,
  utilisation = 0.75,
) {
  const perRun = run.runSeconds.mean;
  const last = run.rounds.at(-1);
  const gbSeconds = target * perRun * (memoryMb / 1024);
  return {
    target,
    windowSeconds,
    runSeconds: perRun,
    /** Runs at once that finish `target` within the window, each slot busy `utilisation` of it. */
    concurrencyNeeded: Math.ceil((target * perRun) / (windowSeconds * utilisation)),
    shippedConcurrency,
    minutesAtShipped: round((target * perRun) / shippedConcurrency / 60),
    lambdaDollarsPerNight: round(gbSeconds * PRICES.lambdaGbSecond + target * PRICES.lambdaRequest),
    dynamoDollarsPerNight: round(
      target *
        (((last?.writeUnitsPerRun ?? 0) + (last?.indexWriteUnitsPerRun ?? 0)) * PRICES.writeUnit +
          (last?.readUnitsPerRun ?? 0) * PRICES.readUnit),
    ),
    stripeRequestsPerRun: last?.stripeRequestsPerRun ?? 0,
  };
}
