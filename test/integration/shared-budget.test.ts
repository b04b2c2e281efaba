import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { LOCAL_TABLES, type LocalStack } from '../../local/stack.js';
import { documentClient } from '../../shared/adapters/dynamodb/document-client.js';
import { DynamoRequestShares } from '../../shared/adapters/dynamodb/request-shares.js';
import type { Mode } from '../../shared/domain/connection.js';
import { refOf } from '../../shared/domain/connection.js';
import type { SyncJob } from '../../shared/domain/sync-job.js';
import { SharedRequestBudget } from '../../shared/sync/shared-budget.js';
import { runSync } from '../../shared/sync/sync-run.js';
import { connectOrg, startTestStack, type TestClock } from '../support/local-stack.js';
import { requestSharesContract } from '../support/request-shares-contract.js';
import { expectConverged, type StripeSend } from '../support/sync.js';

jest.setTimeout(300_000);

/**
 * A live account's request budget is the account's, shared through DynamoDB by every worker
 * and every org calling it (issue 20: workers of one backfill; two orgs on one account).
 */
let stack: LocalStack & { clock: TestClock };
const BUDGET_LIVE = 8;
const sends: StripeSend[] = [];

beforeAll(async () => {
  stack = await startTestStack(
    { SYNC_BUDGET_TEST: '25', SYNC_BUDGET_LIVE: String(BUDGET_LIVE) },
    {
      sync: { retry: { maxAttempts: 10, baseDelayMs: 20, maxDelayMs: 200 }, deferSeconds: 1 },
      wrap: { onStripeRequest: (account, at) => sends.push({ account, at }) },
    },
  );
});
afterAll(() => stack.close());

const plenty = () => 15 * 60_000;
const shares = () => new DynamoRequestShares(documentClient(stack.dynamoClient), LOCAL_TABLES.service);

/** How many of `at` fall in each calendar second. */
function bySecond(at: readonly number[]) {
  const counts = new Map<number, number>();
  for (const t of at) counts.set(Math.floor(t / 1000), (counts.get(Math.floor(t / 1000)) ?? 0) + 1);
  return counts;
}

requestSharesContract('DynamoRequestShares on dynalite', shares);

describe('request shares on DynamoDB', () => {
  it('keep six workers sending as fast as they can within the budget of every second together', async () => {
    const store = shares();
    const limit = 15;
    const at: number[] = [];
    const budgets = Array.from(
      { length: 6 },
      () => new SharedRequestBudget(limit, store, 'acct_1Workers000000000000', 'live'),
    );
    const perWorker = budgets.map(() => 0);
    budgets.forEach((budget, i) => {
      budget.onSend = (t) => {
        at.push(t);
        perWorker[i] = (perWorker[i] as number) + 1;
      };
    });
    const until = Date.now() + 2_500;
    await Promise.all(
      budgets.flatMap((budget) =>
        Array.from({ length: 8 }, async () => {
          while (Date.now() < until) {
            await budget.acquire();
            await new Promise((resolve) => setTimeout(resolve, 20));
          }
        }),
      ),
    );
    // Six workers each asking 8 at a time (~400 a second) got at most 15 a second between them.
    for (const [, n] of bySecond(at)) expect(n).toBeLessThanOrEqual(limit);
    // Every worker got some.
    for (const n of perWorker) expect(n).toBeGreaterThan(0);
  });
});

describe('a live account synced by two orgs at once', () => {
  it('holds both runs to one budget between them, and both converge', async () => {
    const accountId = 'acct_1SharedLive000000000';
    stack.sandbox.sandbox.addAccount({
      id: accountId,
      name: 'Shared live',
      counts: { balance_transactions: 300, charges: 120, refunds: 10, invoices: 6, customers: 10 },
    });
    const connected = async (orgId: string, mode: Mode) => {
      stack.queues.sync.pause();
      await connectOrg(stack, orgId, { account: accountId, body: { mode } });
      stack.queues.sync.purge();
      stack.queues.sync.resume();
      const connection = (await stack.store.listConnections(orgId)).find((c) => c.accountId === accountId);
      if (!connection) throw new Error(`${orgId} not connected`);
      return { ...refOf(connection), connectionId: connection.connectionId, reason: 'initial' } as SyncJob;
    };
    const first = await connected('org_sharedlive_a', 'live');
    const second = await connected('org_sharedlive_b', 'live');
    const since = Date.now();
    const [a, b] = await Promise.all([
      runSync(stack.syncDeps, first, plenty),
      runSync(stack.syncDeps, second, plenty),
    ]);
    expect(a).toMatchObject({ outcome: 'completed' });
    expect(b).toMatchObject({ outcome: 'completed' });
    await expectConverged(stack, 'org_sharedlive_a', accountId, { mode: 'live' });
    await expectConverged(stack, 'org_sharedlive_b', accountId, { mode: 'live' });

    const sent = sends.filter((s) => s.account === accountId && s.at >= since).map((s) => s.at);
    // Each run alone could send 8 a second; together they sent at most 8 in any second.
    expect(sent.length).toBeGreaterThan(4 * BUDGET_LIVE);
    for (const [, n] of bySecond(sent)) expect(n).toBeLessThanOrEqual(BUDGET_LIVE);
    // Every request reached Stripe through the budget.
    const arrived = stack.sandbox.requests.filter((r) => r.account === accountId && r.at >= since).length;
    expect(arrived).toBeLessThanOrEqual(sent.length);
    // The seconds were counted in the service table, under the account and mode.
    const counted = await documentClient(stack.dynamoClient).send(
      new QueryCommand({
        TableName: LOCAL_TABLES.service,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': `ACCOUNT#${accountId}#live` },
      }),
    );
    const items = counted.Items ?? [];
    expect(items.length).toBeGreaterThan(0);
    for (const item of items) {
      expect(item.sent).toBeLessThanOrEqual(BUDGET_LIVE);
      expect(item.ttl).toBeGreaterThan(Number(String(item.sk).replace('REQUESTS#', '')));
    }
  });
});
