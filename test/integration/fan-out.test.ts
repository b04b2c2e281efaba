import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { LOCAL_TABLES, type LocalStack } from '../../local/stack.js';
import { DynamoCheckpointStore } from '../../shared/adapters/dynamodb/checkpoint-store.js';
import { documentClient } from '../../shared/adapters/dynamodb/document-client.js';
import { keys } from '../../shared/data/keys.js';
import { refOf } from '../../shared/domain/connection.js';
import type { SyncJob } from '../../shared/domain/sync-job.js';
import type { JobQueue } from '../../shared/ports/job-queue.js';
import type { RecordsStore } from '../../shared/ports/records-store.js';
import type { Checkpoint, CheckpointStore } from '../../shared/sync/checkpoint.js';
import { runSync } from '../../shared/sync/sync-run.js';
import { checkpointPartsContract } from '../support/checkpoint-parts-contract.js';
import { connectOrg, startTestStack, type TestClock } from '../support/local-stack.js';
import { expectConverged, type StripeSend, slowStripe } from '../support/sync.js';

jest.setTimeout(600_000);

/**
 * A large live backfill shared out among workers (issue 20): parts any worker may claim, the
 * account's budget shared between them, the run done when its last part is, and the records
 * exactly Stripe's.
 */
let stack: LocalStack & { clock: TestClock };
const BUDGET_LIVE = 40;
const WORKERS = 4;
const sends: StripeSend[] = [];
const helpAsked: SyncJob[] = [];
const claims: Array<{ by: string; part: Checkpoint }> = [];
let pageHook: ((resource: string) => void) | undefined;
/** Set: the next part claimed is first claimed by a worker that dies at once (its claim runs out). */
let ghostClaim = false;
const recounted: string[] = [];
/** When each write of records began and ended, and when sync leases were taken and let go (epoch ms). */
const writes: Array<{ began: number; ended?: number }> = [];
/** Each write of records takes this much longer (a slow DynamoDB), so that helpers are seen mid-store. */
let slowWritesMs = 0;
const leaseEvents: Array<{ at: number; kind: 'acquired' | 'released' }> = [];

beforeAll(async () => {
  stack = await startTestStack(
    { SYNC_BUDGET_LIVE: String(BUDGET_LIVE), SYNC_FANOUT_WORKERS: String(WORKERS) },
    {
      sync: {
        retry: { maxAttempts: 10, baseDelayMs: 20, maxDelayMs: 200 },
        deferSeconds: 1,
        fanOut: { workers: WORKERS, minObjects: 400, claimMs: 30_000 },
      },
      wrap: {
        onStripeRequest: (account, at) => sends.push({ account, at }),
        onPageStored: (resource) => pageHook?.(resource),
        records: (records: RecordsStore): RecordsStore =>
          new Proxy(records, {
            get(target, name, receiver) {
              if (name === 'putMany')
                return async (...args: Parameters<RecordsStore['putMany']>) => {
                  const write: { began: number; ended?: number } = { began: Date.now() };
                  writes.push(write);
                  try {
                    if (slowWritesMs > 0) await new Promise((resolve) => setTimeout(resolve, slowWritesMs));
                    return await target.putMany(...args);
                  } finally {
                    write.ended = Date.now();
                  }
                };
              if (name !== 'recount') return Reflect.get(target, name, receiver);
              return (...args: Parameters<RecordsStore['recount']>) => {
                recounted.push(args[1]);
                return target.recount(...args);
              };
            },
          }),
        checkpoints: (checkpoints: CheckpointStore): CheckpointStore =>
          new Proxy(checkpoints, {
            get(target, name, receiver) {
              if (name !== 'claimPart') return Reflect.get(target, name, receiver);
              return async (...args: Parameters<CheckpointStore['claimPart']>) => {
                if (ghostClaim) {
                  ghostClaim = false;
                  const [ref, resource, plan, , now] = args;
                  await target.claimPart(ref, resource, plan, 'ghost', now, now + 1);
                  await new Promise((resolve) => setTimeout(resolve, 5));
                }
                const part = await target.claimPart(...args);
                if (part) claims.push({ by: args[3], part });
                return part;
              };
            },
          }),
        adapter: (name, adapter) => {
          if (name === 'store')
            return new Proxy(adapter, {
              get(target, key, receiver) {
                const value = Reflect.get(target, key, receiver);
                if (key !== 'acquireSyncLease' && key !== 'releaseSyncLease') return value;
                return async (...args: unknown[]) => {
                  const result = await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
                  const ok = key === 'releaseSyncLease' || (result as { ok: boolean }).ok;
                  if (ok)
                    leaseEvents.push({
                      at: Date.now(),
                      kind: key === 'acquireSyncLease' ? 'acquired' : 'released',
                    });
                  return result;
                };
              },
            });
          if (name !== 'syncQueue') return adapter;
          const queue = adapter as JobQueue<SyncJob>;
          const spy: JobQueue<SyncJob> = {
            send: (message, options) => queue.send(message, options),
            sendBatch: (messages) => {
              helpAsked.push(...messages.filter((m) => m.reason === 'help'));
              return queue.sendBatch(messages);
            },
          };
          return spy as typeof adapter;
        },
      },
    },
  );
});
afterAll(() => stack.close());

const plenty = () => 15 * 60_000;

checkpointPartsContract(
  'DynamoCheckpointStore parts on dynalite',
  () => new DynamoCheckpointStore(documentClient(stack.dynamoClient), LOCAL_TABLES.service),
);
let n = 0;
const COUNTS = { balance_transactions: 2500, charges: 600, refunds: 20, invoices: 4, customers: 5 };

async function liveAccount() {
  const suffix = String(++n).padStart(4, '0');
  const accountId = `acct_1FanOut${suffix}`.padEnd(24, '0');
  const orgId = `org_fanout_${suffix}`;
  stack.sandbox.sandbox.addAccount({ id: accountId, name: `Fan out ${suffix}`, counts: COUNTS });
  stack.queues.sync.pause();
  await connectOrg(stack, orgId, { account: accountId, body: { mode: 'live' } });
  stack.queues.sync.purge();
  const connection = (await stack.store.listConnections(orgId)).find((c) => c.accountId === accountId);
  if (!connection) throw new Error(`${orgId} not connected`);
  const job: SyncJob = { ...refOf(connection), connectionId: connection.connectionId, reason: 'initial' };
  // Stripe at 300 ms a page: the backfill splits, and the large resources are shared out.
  slowStripe(stack, accountId, ['GET /v1/balance_transactions', 'GET /v1/charges'], 300);
  return { accountId, orgId, job };
}

/** How many of the account's sends fall in each calendar second. */
function peakPerSecond(accountId: string, since: number) {
  const counts = new Map<number, number>();
  for (const s of sends)
    if (s.account === accountId && s.at >= since)
      counts.set(Math.floor(s.at / 1000), (counts.get(Math.floor(s.at / 1000)) ?? 0) + 1);
  return Math.max(0, ...counts.values());
}

async function partItems(job: SyncJob) {
  const { pk, sk } = keys.cursor(refOf(job), 'balance_transactions@');
  const found = await documentClient(stack.dynamoClient).send(
    new QueryCommand({
      TableName: LOCAL_TABLES.service,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':pk': pk, ':prefix': sk },
    }),
  );
  return found.Items ?? [];
}

describe('a large live backfill shared out among workers', () => {
  it('is read to the end by the run alone when no helper comes, exactly', async () => {
    const { accountId, orgId, job } = await liveAccount();
    const since = Date.now();
    const asked = helpAsked.length;
    const claimed = claims.length;
    // The queue is paused: the helpers asked for never run.
    await expect(runSync(stack.syncDeps, job, plenty)).resolves.toMatchObject({ outcome: 'completed' });
    stack.queues.sync.purge();
    const mine = helpAsked.slice(asked).filter((h) => h.connectionId === job.connectionId);
    // Asked once per resource shared out, for the other workers.
    const bt = mine.filter((h) => h.help?.resource === 'balance_transactions');
    expect(bt).toHaveLength(WORKERS - 1);
    expect(new Set(bt.map((h) => h.help?.plan)).size).toBe(1);
    // The run claimed every part itself.
    const parts = claims.slice(claimed).filter((c) => c.part.connectionId === job.connectionId);
    expect(parts.length).toBeGreaterThanOrEqual(WORKERS * 4);
    for (const { by } of parts) expect(by.startsWith('sync-')).toBe(true);
    await expectConverged(stack, orgId, accountId, { mode: 'live', compareObjects: true });
    expect(peakPerSecond(accountId, since)).toBeLessThanOrEqual(BUDGET_LIVE);
    // Its parts are gone once the backfill is done; its checkpoint is incremental.
    expect(await partItems(job)).toEqual([]);
    const checkpoint = await stack.syncDeps.checkpoints.get(refOf(job), 'balance_transactions');
    expect(checkpoint).toMatchObject({ phase: 'incremental', total: 2500 });
    expect(checkpoint?.parts).toBeUndefined();
  });

  it('is read by the run and the helpers the queue brings, within one budget, exactly', async () => {
    const { accountId, orgId, job } = await liveAccount();
    const since = Date.now();
    const claimed = claims.length;
    stack.queues.sync.resume();
    await expect(runSync(stack.syncDeps, job, plenty)).resolves.toMatchObject({ outcome: 'completed' });
    await stack.queues.sync.idle(60_000);
    const parts = claims.slice(claimed).filter((c) => c.part.connectionId === job.connectionId);
    expect(parts.length).toBeGreaterThanOrEqual(WORKERS * 4);
    await expectConverged(stack, orgId, accountId, { mode: 'live', compareObjects: true });
    // The run and its helpers together never passed the account's budget in any second.
    expect(peakPerSecond(accountId, since)).toBeLessThanOrEqual(BUDGET_LIVE);
    expect(await partItems(job)).toEqual([]);
    const checkpoint = await stack.syncDeps.checkpoints.get(refOf(job), 'balance_transactions');
    expect(checkpoint).toMatchObject({ phase: 'incremental', total: 2500 });
  });

  it('loses nothing when workers crash between stores: the next run goes on from the parts, exactly', async () => {
    const { accountId, orgId, job } = await liveAccount();
    const since = Date.now();
    stack.queues.sync.resume();
    let stored = 0;
    // The 4th and 9th stores of balance transactions, whichever worker made them, crash it.
    pageHook = (resource) => {
      if (resource !== 'balance_transactions') return;
      stored++;
      if (stored === 4 || stored === 9) throw new Error('simulated crash');
    };
    let outcome: unknown;
    for (let attempt = 0; attempt < 8 && !outcome; attempt++) {
      outcome = await runSync(stack.syncDeps, job, plenty).then(
        (result) => (result.outcome === 'completed' ? result : undefined),
        () => undefined,
      );
      await stack.queues.sync.idle(60_000);
    }
    pageHook = undefined;
    expect(outcome).toMatchObject({ outcome: 'completed' });
    expect(stored).toBeGreaterThanOrEqual(9);
    await stack.queues.sync.idle(60_000);
    await expectConverged(stack, orgId, accountId, { mode: 'live', compareObjects: true });
    expect(peakPerSecond(accountId, since)).toBeLessThanOrEqual(BUDGET_LIVE);
    expect(await partItems(job)).toEqual([]);
  });

  it('counts afresh a resource one of whose parts was taken from a worker whose claim ran out', async () => {
    const { accountId, orgId, job } = await liveAccount();
    stack.queues.sync.pause();
    const before = recounted.length;
    const claimed = claims.length;
    ghostClaim = true;
    await expect(runSync(stack.syncDeps, job, plenty)).resolves.toMatchObject({ outcome: 'completed' });
    stack.queues.sync.purge();
    expect(ghostClaim).toBe(false);
    // The ghost's part was claimed again, marked taken over, and its resource counted afresh.
    const retaken = claims
      .slice(claimed)
      .filter((c) => c.part.retaken && c.part.connectionId === job.connectionId);
    expect(retaken).toHaveLength(1);
    expect(recounted.slice(before)).toEqual([retaken[0]?.part.resource]);
    await expectConverged(stack, orgId, accountId, { mode: 'live', compareObjects: true });
  });

  it('stops its helpers before it lets its lease go near its deadline: no write of theirs is under way once it has', async () => {
    const { accountId, orgId, job } = await liveAccount();
    stack.queues.sync.resume();
    const asked = helpAsked.length;
    // The run's deadline comes once it has shared the backfill out (its helpers are at work).
    const remaining = () =>
      helpAsked.slice(asked).some((h) => h.connectionId === job.connectionId) ? 1_000 : 15 * 60_000;
    const leaseFrom = leaseEvents.length;
    const writesFrom = writes.length;
    slowWritesMs = 1_000;
    await expect(runSync(stack.syncDeps, job, remaining))
      .resolves.toMatchObject({ outcome: 'continued' })
      .finally(() => {
        slowWritesMs = 0;
      });
    const released = leaseEvents.slice(leaseFrom).find((e) => e.kind === 'released')?.at as number;
    expect(released).toBeDefined();
    // The continuation the run queued finishes the backfill (the queue runs it and the helpers).
    for (let i = 0; i < 20; i++) {
      await stack.queues.sync.idle(120_000);
      const checkpoint = await stack.syncDeps.checkpoints.get(refOf(job), 'balance_transactions');
      if (checkpoint?.phase === 'incremental') break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const next = leaseEvents.slice(leaseFrom).find((e) => e.kind === 'acquired' && e.at >= released)
      ?.at as number;
    expect(next).toBeDefined();
    // Every write begun before the first run let its lease go had ended by then (a webhook may
    // write from then on), and none began until the next run held the lease.
    const mine = writes.slice(writesFrom);
    expect(
      mine.filter((w) => w.began < released && (w.ended ?? Number.POSITIVE_INFINITY) > released),
    ).toEqual([]);
    expect(mine.filter((w) => w.began >= released && w.began < next)).toEqual([]);
    expect(mine.filter((w) => w.began < released).length).toBeGreaterThan(0);
    await expectConverged(stack, orgId, accountId, { mode: 'live', compareObjects: true });
    expect(await partItems(job)).toEqual([]);
  });
});
