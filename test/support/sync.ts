import { describeReport, reconcile, sandboxTruth } from '../../local/reconcile.js';
import type { LocalStack } from '../../local/stack.js';
import { refOf } from '../../shared/domain/connection.js';
import type { SyncJob } from '../../shared/domain/sync-job.js';
import type { RecordScope } from '../../shared/ports/records-store.js';
import { LINE_RESOURCES, type ListedResourceName, RESOURCES } from '../../shared/records/registry.js';
import { onlyConnection } from './connections.js';
import { connectOrg } from './local-stack.js';

let accounts = 0;

/**
 * A new sandbox account (`counts` seeded) connected to a new org in test mode, with the sync the
 * connect queued taken off the queue: the caller runs `job` (the initial sync) when it wants.
 * `label` (letters) names the account and org, so a failure says which test made them.
 */
export async function connectNewAccount(
  stack: LocalStack,
  label: string,
  counts: Record<string, number>,
  spec: { apiVersion?: string } = {},
  /** What happens on the account before it connects (no webhook or event pass brings it). */
  before?: (accountId: string) => void,
): Promise<{ accountId: string; orgId: string; job: SyncJob; scope: RecordScope }> {
  const suffix = String(++accounts).padStart(4, '0');
  const accountId = `acct_1${label}${suffix}`.padEnd(24, '0');
  const orgId = `org_${label.toLowerCase()}_${suffix}`;
  stack.sandbox.sandbox.addAccount({ id: accountId, name: `${label} ${suffix}`, counts, ...spec });
  if (before) {
    before(accountId);
    // Its events fall before the connection's snapshot second, so only the backfill can read them.
    stack.sandbox.sandbox.advanceClock(5);
  }
  stack.queues.sync.pause();
  await connectOrg(stack, orgId, { account: accountId });
  stack.queues.sync.purge();
  const connection = await onlyConnection(stack.store, orgId);
  if (!connection) throw new Error(`${orgId} is not connected`);
  const job: SyncJob = { ...refOf(connection), connectionId: connection.connectionId, reason: 'initial' };
  return { accountId, orgId, job, scope: { orgId, mode: 'test', accountId } };
}

/** The sandbox's current objects of one resource for an account (ids → objects). */
export function sandboxObjects(
  stack: LocalStack,
  accountId: string,
  resource: ListedResourceName,
  mode: 'test' | 'live' = 'test',
) {
  const data = stack.sandbox.sandbox.accountData(accountId, mode);
  if (!data) throw new Error(`no sandbox account ${accountId}`);
  const collection = resource === 'discounts' ? data.discounts : data.collections[resource];
  const out = new Map<string, Record<string, unknown>>();
  for (const live of collection.live()) {
    const object = live as unknown as Record<string, unknown>;
    out.set(object.id as string, object);
  }
  return out;
}

/**
 * What the sandbox holds per resource, as the oracle counts it: each listed resource's live
 * objects, and every line or item of its live invoices, credit notes and subscriptions.
 */
export function sandboxCounts(stack: LocalStack, accountId: string, mode: 'test' | 'live' = 'test') {
  const data = stack.sandbox.sandbox.accountData(accountId, mode);
  if (!data) throw new Error(`no sandbox account ${accountId}`);
  const counts: Record<string, number> = {};
  for (const def of RESOURCES) counts[def.name] = sandboxObjects(stack, accountId, def.name, mode).size;
  for (const line of LINE_RESOURCES) {
    let n = 0;
    for (const holder of data.collections[line.parent].live()) {
      const lines =
        line.parent === 'invoices'
          ? data.invoiceLinesOf(holder.id)
          : line.parent === 'credit_notes'
            ? data.creditNoteLinesOf(holder.id)
            : data.subscriptionItemsOf(holder.id);
      n += lines?.length ?? 0;
    }
    counts[line.name] = n;
  }
  return counts;
}

/**
 * The oracle (local/reconcile.ts) over one account: fails unless the records store holds
 * exactly the sandbox's objects, each at its latest state, and the status counts equal them.
 */
export async function expectConverged(
  stack: LocalStack,
  orgId: string,
  accountId: string,
  options: { compareObjects?: boolean; mode?: 'test' | 'live' } = {},
) {
  const report = await reconcile(
    stack.records,
    sandboxTruth(stack.sandbox.sandbox, accountId, options.mode ?? 'test'),
    { orgId, mode: options.mode ?? 'test', accountId },
    options,
  );
  if (!report.ok) throw new Error(`records store has not converged:\n${describeReport(report)}`);
  return report;
}

export function listRequests(stack: LocalStack, accountId: string, since = 0) {
  return stack.sandbox.requests.filter((r) => r.account === accountId && r.at >= since && r.method === 'GET');
}

/** A request the sync's budget let through (SyncDeps.onStripeRequest). */
export interface StripeSend {
  account: string;
  at: number;
}

/**
 * The most requests the account's budget let through in any window of `windowMs`, after
 * checking that every request the sandbox saw from the account went through the budget.
 * Counted where the budget decides, not by arrival: an in-process sandbox stamps requests
 * when its handler runs, so a stalled event loop bunches them into one second.
 */
export function budgetPeak(
  stack: LocalStack,
  sends: readonly StripeSend[],
  accountId: string,
  since: number,
  windowMs = 1000,
): number {
  const sent = sends
    .filter((s) => s.account === accountId && s.at >= since)
    .map((s) => s.at)
    .sort((a, b) => a - b);
  const arrived = stack.sandbox.requests.filter((r) => r.account === accountId && r.at >= since).length;
  // Sends stamped just before `since` may arrive after it; none may arrive unsent.
  if (arrived > sent.length + 2) {
    throw new Error(`${arrived} requests reached Stripe but the budget let only ${sent.length} through`);
  }
  let peak = 0;
  for (let i = 0, j = 0; i < sent.length; i++) {
    while ((sent[i] as number) - (sent[j] as number) >= windowMs) j++;
    peak = Math.max(peak, i - j + 1);
  }
  return peak;
}

export async function waitForSync(stack: LocalStack, orgId: string, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await stack.queues.sync.idle(timeoutMs);
    const connection = await onlyConnection(stack.store, orgId);
    if (connection && connection.sync.state !== 'queued' && connection.sync.state !== 'running')
      return connection;
    if (Date.now() > deadline)
      throw new Error(`sync of ${orgId} did not finish: ${JSON.stringify(connection?.sync)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Every request of `accountId` to these routes takes `latencyMs` in the sandbox (as a slow Stripe would). */
export function slowStripe(stack: LocalStack, accountId: string, routes: string[], latencyMs = 300): void {
  for (const route of routes)
    stack.sandbox.faults.push({
      id: `slow-${route}`,
      route,
      account: accountId,
      kind: 'latency',
      rate: 1,
      latencyMs,
      seen: 0,
    });
}
