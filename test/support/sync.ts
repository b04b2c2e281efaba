import { describeReport, reconcile, sandboxTruth } from '../../local/reconcile.js';
import type { LocalStack } from '../../local/stack.js';
import type { ResourceName } from '../../shared/records/registry.js';
import { onlyConnection } from './connections.js';

/** The sandbox's current objects of one resource for an account (ids → objects). */
export function sandboxObjects(
  stack: LocalStack,
  accountId: string,
  resource: ResourceName,
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

/** The most requests the account sent in any one second (by the sandbox's own clock). */
export function maxPerSecond(stack: LocalStack, accountId: string, since = 0): number {
  const perSecond = new Map<number, number>();
  for (const r of stack.sandbox.requests) {
    if (r.account !== accountId || r.at < since) continue;
    const second = Math.floor(r.at / 1000);
    perSecond.set(second, (perSecond.get(second) ?? 0) + 1);
  }
  return Math.max(0, ...perSecond.values());
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
