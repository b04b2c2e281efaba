import type { LocalStack } from '../../local/stack.js';
import { LEGACY_SLOT, slotFor } from '../../shared/domain/connection.js';
import { EVENT_SCHEMAS } from '../../shared/events/catalog.js';
import { statusResponseSchema } from '../../shared/http/api-schemas.js';
import type { SyncRunRecord } from '../../shared/ports/sync-history.js';
import { runSync } from '../../shared/sync/sync-run.js';
import { api, startTestStack, tokenFor } from '../support/local-stack.js';
import { connectNewAccount } from '../support/sync.js';

/**
 * The status shows each connection's last runs: what support reads to answer "why is my
 * March revenue missing?" without an operator.
 */
jest.setTimeout(120_000);

let stack: LocalStack;
const plenty = () => 15 * 60_000;
const COUNTS = {
  balance_transactions: 150,
  charges: 40,
  refunds: 0,
  invoices: 10,
  credit_notes: 0,
  disputes: 5,
  customers: 5,
  products: 2,
  prices: 3,
  coupons: 1,
  subscriptions: 3,
};

beforeAll(async () => {
  stack = await startTestStack({}, { sync: { retry: { maxAttempts: 3, baseDelayMs: 5, maxDelayMs: 20 } } });
});
afterAll(() => stack.close());

const status = async (orgId: string) => {
  const response = await api(stack, 'GET', '/v1/integrations/stripe/status', {
    token: await tokenFor(stack, orgId, 'member'),
  });
  expect(response.status).toBe(200);
  return statusResponseSchema.parse(response.json);
};

describe('run history in the status', () => {
  it('lists each run newest first: trigger, times, outcome, requests, what it wrote and what failed; another org sees none of it', async () => {
    const a = await connectNewAccount(stack, 'HistoryA', COUNTS);
    const b = await connectNewAccount(stack, 'HistoryB', COUNTS);
    await expect(runSync(stack.syncDeps, a.job, plenty)).resolves.toMatchObject({ outcome: 'completed' });
    const before = Date.now();
    // Stripe refuses the disputes for good (429 with Stripe-Should-Retry: false): that resource
    // fails, the others are up to date.
    stack.sandbox.sandbox.createActivity(a.accountId, 'test', 'charge');
    stack.sandbox.faults.push({
      id: 'refuse-disputes',
      route: 'GET /v1/events',
      account: a.accountId,
      kind: '429',
      shouldRetry: false,
      rate: 1,
      seen: 0,
    });
    const partial = await runSync(stack.syncDeps, { ...a.job, reason: 'manual' }, plenty);
    stack.sandbox.faults.length = 0;
    expect(partial.outcome).toBe('partial');

    const [second, first, ...older] = (await status(a.orgId)).connections[0]?.runs ?? [];
    expect(older).toEqual([]);
    expect(first).toMatchObject({ trigger: 'initial', outcome: 'completed', errors: [] });
    expect(first?.written).toMatchObject({ balance_transactions: 150, charges: 40, disputes: 5 });
    expect(first?.requests).toBeGreaterThan(2);
    expect(Date.parse(first?.finishedAt ?? '') - Date.parse(first?.startedAt ?? '')).toBe(first?.durationMs);
    expect(second).toMatchObject({ trigger: 'manual', outcome: 'partial' });
    expect(Date.parse(second?.startedAt ?? '')).toBeGreaterThanOrEqual(before);
    const failed = (second?.errors ?? []).filter((e) => e.resource).map((e) => e.resource);
    expect(failed.length).toBeGreaterThan(0);
    expect(second?.errors).toContainEqual(expect.objectContaining({ code: 'resource_failed' }));
    for (const error of second?.errors ?? []) expect(error.message).not.toMatch(/sk_|rk_|whsec_|ac_/);
    // Defrr was told on its bus: completed, then failed in part, each in its published schema.
    const told = stack.bus.events.filter(
      (e) => e.detail.orgId === a.orgId && e['detail-type'].startsWith('Stripe Sync'),
    );
    expect(told.map((e) => e['detail-type'])).toEqual(['Stripe Sync Completed', 'Stripe Sync Failed']);
    // Each run's writes were told before the run's outcome, with where to pull them from.
    const all = stack.bus.events.filter((e) => e.detail.orgId === a.orgId).map((e) => e['detail-type']);
    expect(all[0]).toBe('Stripe Connection Connected');
    expect(all.indexOf('Stripe Records Changed')).toBeLessThan(all.indexOf('Stripe Sync Completed'));
    EVENT_SCHEMAS['Stripe Sync Completed'].parse(told[0]?.detail);
    const failure = EVENT_SCHEMAS['Stripe Sync Failed'].parse(told[1]?.detail);
    expect(failure).toMatchObject({
      outcome: 'partial',
      retrying: false,
      reason: 'manual',
      connectionId: a.job.connectionId,
    });
    expect(failure.errors).toEqual(second?.errors);

    // The other org's status holds its own connection's runs only: none yet.
    expect((await status(b.orgId)).connections[0]?.runs).toEqual([]);
    await expect(runSync(stack.syncDeps, b.job, plenty)).resolves.toMatchObject({ outcome: 'completed' });
    const theirs = (await status(b.orgId)).connections[0]?.runs ?? [];
    expect(theirs).toHaveLength(1);
    expect((await status(a.orgId)).connections[0]?.runs.map((r) => r.runId)).not.toContain(theirs[0]?.runId);
  });

  it("keeps each connection's runs apart: the legacy slot's from a new slot's, a reconnect's from the one it replaced", async () => {
    const orgId = 'org_history_slots';
    const run = (connectionId: string, startedAt: string): SyncRunRecord => ({
      runId: `sync-${connectionId}-${startedAt}`,
      connectionId,
      trigger: 'nightly',
      startedAt,
      finishedAt: startedAt,
      durationMs: 0,
      outcome: 'completed',
      requests: 1,
      written: {},
      errors: [],
    });
    const legacy = { orgId, slot: LEGACY_SLOT };
    const fresh = { orgId, slot: slotFor('test', 'acct_1HistorySlots00001') };
    // The new slot's runs are newer: a prefix that matched them too would fill the legacy one's page.
    for (let i = 0; i < 12; i++)
      await stack.store.recordRun(
        fresh,
        run('conn_new', `2026-12-0${(i % 9) + 1}T00:00:${String(i).padStart(2, '0')}.000Z`),
      );
    await stack.store.recordRun(legacy, run('conn_old', '2026-11-01T00:00:00.000Z'));
    await stack.store.recordRun(fresh, run('conn_before', '2026-11-02T00:00:00.000Z'));
    expect((await stack.store.recentRuns(legacy, 'conn_old', 10)).map((r) => r.connectionId)).toEqual([
      'conn_old',
    ]);
    expect((await stack.store.recentRuns(fresh, 'conn_before', 10)).map((r) => r.connectionId)).toEqual([
      'conn_before',
    ]);
    const newest = await stack.store.recentRuns(fresh, 'conn_new', 10);
    expect(newest).toHaveLength(10);
    expect(new Set(newest.map((r) => r.connectionId))).toEqual(new Set(['conn_new']));
  });

  it('keeps the last ten in the status, newest first', async () => {
    const { orgId, job } = await connectNewAccount(stack, 'HistoryC', { ...COUNTS, balance_transactions: 5 });
    for (let i = 0; i < 12; i++)
      await expect(
        runSync(stack.syncDeps, { ...job, reason: i === 0 ? 'initial' : 'manual' }, plenty),
      ).resolves.toMatchObject({
        outcome: 'completed',
      });
    const runs = (await status(orgId)).connections[0]?.runs ?? [];
    expect(runs).toHaveLength(10);
    const starts = runs.map((r) => r.startedAt);
    expect([...starts].sort().reverse()).toEqual(starts);
    // The first run (the initial one) is past the ten shown.
    expect(runs.map((r) => r.trigger)).not.toContain('initial');
    // A run with no change wrote nothing its events or lists brought, only what is read again
    // in full each run (coupons, open invoice payments: Stripe changes those silently).
    const written = runs[0]?.written ?? {};
    for (const resource of ['balance_transactions', 'charges', 'invoices', 'customers', 'subscriptions'])
      expect([resource, written[resource] ?? 0]).toEqual([resource, 0]);
  });
});
