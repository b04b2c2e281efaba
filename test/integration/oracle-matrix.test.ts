import type { LocalStack } from '../../local/stack.js';
import { type Connection, refOf } from '../../shared/domain/connection.js';
import type { SyncJob } from '../../shared/domain/sync-job.js';
import type { RecordsStore } from '../../shared/ports/records-store.js';
import { runSync, type SyncOutcome } from '../../shared/sync/sync-run.js';
import { processWebhookMessage } from '../../shared/webhooks/process.js';
import { onlyConnection } from '../support/connections.js';
import { connectOrg, settle, startTestStack } from '../support/local-stack.js';
import { expectConverged, sandboxObjects } from '../support/sync.js';
import { wrapRecords } from '../support/wrap-records.js';

/**
 * The oracle (local/reconcile.ts) after every scenario of the matrix: every stored record
 * equals Stripe's object field by field, nothing missing or extra, and the status counts
 * equal the oracle's. Each scenario has a stack of its own (faults and clocks stay in it).
 */
jest.setTimeout(300_000);

const COUNTS = {
  balance_transactions: 320,
  charges: 260,
  refunds: 30,
  invoices: 40,
  credit_notes: 12,
  disputes: 6,
};
const ACCOUNT = 'acct_1OracleMatrix00001';
const ORG = 'org_oracle';
const plenty = () => 15 * 60_000;

interface Hooks {
  onPageStored?: (resource: string, pages: number) => void | Promise<void>;
  records?: Partial<RecordsStore>;
}

async function scenarioStack(hooks: Hooks = {}, env: Record<string, string> = {}) {
  const stack = await startTestStack(
    { SYNC_BUDGET_TEST: '25', STRIPE_TIMEOUT_MS: '5000', ...env },
    {
      sync: { retry: { maxAttempts: 6, baseDelayMs: 10, maxDelayMs: 100 }, deferSeconds: 1 },
      wrap: {
        onPageStored: (resource, pages) => hooks.onPageStored?.(resource, pages),
        records: (records: RecordsStore) =>
          wrapRecords(records, {
            ...Object.fromEntries(
              Object.entries(hooks.records ?? {}).map(([name, fn]) => [
                name,
                (...args: unknown[]) => (fn as (...a: unknown[]) => unknown)(records, ...args),
              ]),
            ),
          }),
      },
    },
  );
  stack.sandbox.sandbox.addAccount({ id: ACCOUNT, name: 'Oracle', counts: COUNTS });
  stack.queues.sync.pause();
  await connectOrg(stack, ORG, { account: ACCOUNT });
  stack.queues.sync.purge();
  const connection = await onlyConnection(stack.store, ORG);
  const job: SyncJob = {
    ...refOf(connection as Connection),
    connectionId: connection?.connectionId as string,
    reason: 'initial',
  };
  return { stack, job };
}

/** Runs the connection's sync until a run completes (each failure is a retry, as the queue's). */
async function syncUntilComplete(stack: LocalStack, job: SyncJob, attempts = 40): Promise<SyncOutcome[]> {
  const outcomes: SyncOutcome[] = [];
  for (let i = 0; i < attempts; i++) {
    const current = await onlyConnection(stack.store, job.orgId);
    const outcome = await runSync(
      stack.syncDeps,
      {
        ...job,
        connectionId: current?.connectionId ?? job.connectionId,
        reason: i === 0 ? job.reason : 'continue',
      },
      plenty,
    ).catch((error: unknown): SyncOutcome => ({ outcome: 'stopped', reason: String(error) }));
    outcomes.push(outcome);
    if (outcome.outcome === 'completed') return outcomes;
  }
  throw new Error(`no run completed: ${JSON.stringify(outcomes.slice(-3))}`);
}

/** Everything settles (webhooks, then the syncs they asked for, then one more sync), then the oracle. */
async function expectOracleClean(stack: LocalStack, job: SyncJob) {
  await stack.sandbox.sandbox.webhooksIdle(30_000);
  stack.queues.webhooks.resume();
  await settle(stack, ['webhooks']);
  stack.queues.sync.resume();
  await settle(stack, ['sync']);
  await syncUntilComplete(stack, { ...job, reason: 'manual' });
  await expectConverged(stack, ORG, ACCOUNT);
}

const activity = (stack: LocalStack) => {
  for (const kind of [
    'charge',
    'refund',
    'invoice_paid',
    'dispute',
    'credit_note',
    'refund',
    'customer_deleted',
    'customer',
    'product',
    'price_archived',
    'coupon',
    'coupon_deleted',
    'coupon_applied',
    'payout',
    'subscription_canceled',
    'subscription',
    'subscription_upgraded',
    'subscription_scheduled',
    'schedule_released',
  ] as const)
    stack.sandbox.sandbox.createActivity(ACCOUNT, 'test', kind);
};

describe('the oracle finds nothing missing, extra or different', () => {
  it.each([
    ['-60 s', 60_000],
    ['-3 s', 3_000],
    ['+60 s', -60_000],
  ])('clock skew: Stripe %s from this service', async (_label, offsetMs) => {
    const { stack, job } = await scenarioStack();
    try {
      stack.clock.offsetMs = offsetMs;
      await syncUntilComplete(stack, job);
      activity(stack);
      await settle(stack);
      await expectOracleClean(stack, job);
    } finally {
      await stack.close();
    }
  });

  it('a crash at every page boundary of a backfill: after a page is written, and after it is checkpointed', async () => {
    let crashes = 0;
    let armed = false;
    let afterWrite = true;
    const crash = (where: string) => {
      if (!armed) return;
      armed = false;
      crashes++;
      throw new Error(`the worker died ${where}`);
    };
    const { stack, job } = await scenarioStack({
      // Every run dies at its first page: one page of progress each, alternately before its count
      // and checkpoint are saved and just after.
      records: {
        putMany: async (records: RecordsStore, ...args: unknown[]) => {
          const result = await records.putMany(...(args as Parameters<RecordsStore['putMany']>));
          if (afterWrite) crash('after a batch write');
          return result;
        },
      } as unknown as Partial<RecordsStore>,
      onPageStored: () => {
        if (!afterWrite) crash('after a checkpoint');
      },
    });
    try {
      for (let run = 0; ; run++) {
        armed = true;
        afterWrite = run % 2 === 0;
        const outcome = await runSync(stack.syncDeps, { ...job, reason: 'continue' }, plenty).catch(
          () => undefined,
        );
        if (outcome?.outcome === 'completed') break;
        if (run > 200) throw new Error('the backfill never completed');
      }
      expect(crashes).toBeGreaterThan(8);
      await expectOracleClean(stack, job);
    } finally {
      await stack.close();
    }
  });

  it('a crash between the steps of a webhook (written, not yet counted): the retry and the next sync put it right', async () => {
    let failCount = 1;
    const { stack, job } = await scenarioStack({
      records: {
        addCounts: async (records: RecordsStore, ...args: unknown[]) => {
          const [, deltas] = args as Parameters<RecordsStore['addCounts']>;
          if (failCount > 0 && 'charges' in deltas && Object.keys(deltas).length === 1) {
            failCount--;
            throw new Error('the worker died between the write and its count');
          }
          return records.addCounts(...(args as Parameters<RecordsStore['addCounts']>));
        },
      } as unknown as Partial<RecordsStore>,
    });
    try {
      await syncUntilComplete(stack, job);
      stack.sandbox.sandbox.createActivity(ACCOUNT, 'test', 'charge');
      await settle(stack);
      expect(failCount).toBe(0);
      await expectOracleClean(stack, job);
    } finally {
      await stack.close();
    }
  });

  it('500s and 429s (with and without Stripe-Should-Retry), dropped connections and 2 s latency', async () => {
    const { stack, job } = await scenarioStack();
    try {
      const faults = stack.sandbox.faults;
      const rule = (id: string, kind: 'latency' | '429' | '500' | 'drop', rate: number, extra = {}) =>
        faults.push({ id, route: '*', account: ACCOUNT, kind, rate, seen: 0, ...extra });
      rule('500', '500', 0.06);
      rule('500-no-retry', '500', 0.02, { shouldRetry: false });
      rule('429', '429', 0.05);
      rule('429-retry', '429', 0.03, { shouldRetry: true });
      rule('429-no-retry', '429', 0.02, { shouldRetry: false });
      rule('drop', 'drop', 0.03);
      rule('slow', 'latency', 0.05, { latencyMs: 2000 });
      await syncUntilComplete(stack, job);
      activity(stack);
      await settle(stack);
      await syncUntilComplete(stack, { ...job, reason: 'manual' });
      faults.length = 0;
      await expectOracleClean(stack, job);
    } finally {
      await stack.close();
    }
  });

  it('webhooks during a backfill, then all of them again out of order and duplicated', async () => {
    let made = false;
    let stack: LocalStack | undefined;
    const started = await scenarioStack({
      onPageStored: (resource) => {
        if (made || resource !== 'charges' || !stack) return;
        made = true;
        activity(stack);
      },
    });
    stack = started.stack;
    try {
      await syncUntilComplete(stack, started.job);
      expect(made).toBe(true);
      await settle(stack);
      const events = [...(stack.sandbox.sandbox.accountData(ACCOUNT, 'test')?.events.storedObjects() ?? [])];
      const again = [...events, ...events].reverse();
      for (const event of again)
        await processWebhookMessage(stack.processorDeps, { kind: 'event', event: event as never });
      await expectOracleClean(stack, started.job);
    } finally {
      await stack.close();
    }
  });

  it('a reconnect, with activity before and after', async () => {
    const { stack, job } = await scenarioStack();
    try {
      await syncUntilComplete(stack, job);
      activity(stack);
      await connectOrg(stack, ORG, { account: ACCOUNT });
      stack.queues.sync.purge();
      activity(stack);
      const connection = await onlyConnection(stack.store, ORG);
      const fresh = { ...job, connectionId: connection?.connectionId as string };
      await syncUntilComplete(stack, fresh);
      await expectOracleClean(stack, fresh);
    } finally {
      await stack.close();
    }
  });

  it('pending balance transactions that become available (no event), and a draft invoice that shrinks', async () => {
    const { stack, job } = await scenarioStack();
    try {
      const draft = stack.sandbox.sandbox.draftInvoice(ACCOUNT, 'test', 150);
      activity(stack);
      await settle(stack);
      await syncUntilComplete(stack, job);
      const pending = [...sandboxObjects(stack, ACCOUNT, 'balance_transactions').values()].filter(
        (bt) => bt.status === 'pending',
      );
      expect(pending.length).toBeGreaterThan(0);
      // The draft now has two lines; three days on, what was pending is available.
      stack.sandbox.sandbox.reviseDraft(ACCOUNT, 'test', draft, 2);
      await settle(stack);
      // (Both clocks: a webhook signed three days ahead of the service would be refused.)
      stack.sandbox.sandbox.advanceClock(3 * 86_400);
      stack.clock.advance(3 * 86_400_000);
      await expectOracleClean(stack, job);
      const stored = await stack.records.get(
        { orgId: ORG, mode: 'test', accountId: ACCOUNT },
        'balance_transactions',
        pending[0]?.id as string,
      );
      expect(stored?.object.status).toBe('available');
    } finally {
      await stack.close();
    }
  });
});
