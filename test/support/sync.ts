import { describeReport, reconcile, sandboxTruth } from '../../local/reconcile.js';
import type { LocalStack } from '../../local/stack.js';
import type { ListedResourceName } from '../../shared/records/registry.js';
import { onlyConnection } from './connections.js';

/** The sandbox's current objects of one resource for an account (ids → objects). */
export function sandboxObjects(
  stack: LocalStack,
  accountId: string,
  resource: ListedResourceName,
  mode: 'test' | 'live' = 'test',
) {
  const data = stack.sandbox.sandbox.accountData(accountId, mode);
  if (!data) throw new Error(`no sandbox account ${accountId}`);
  const collection = data.collections[resource];
  const out = new Map<string, Record<string, unknown>>();
  for (const live of collection.live()) {
    const object = live as unknown as Record<string, unknown>;
    out.set(object.id as string, object);
  }
  return out;
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
