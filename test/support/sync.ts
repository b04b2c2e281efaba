import type { LocalStack } from '../../local/stack.js';
import type { ResourceName } from '../../shared/records/registry.js';
import { RESOURCES } from '../../shared/records/registry.js';

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
  for (let i = 0; i < collection.size; i++) {
    const object = collection.at(i) as unknown as Record<string, unknown>;
    out.set(object.id as string, object);
  }
  return out;
}

/** Fails unless the records store holds exactly the sandbox's objects, each at its latest state. */
export async function expectConverged(
  stack: LocalStack,
  orgId: string,
  accountId: string,
  options: { compareObjects?: boolean } = {},
) {
  const problems: string[] = [];
  for (const def of RESOURCES) {
    const expected = sandboxObjects(stack, accountId, def.name);
    const stored = await stack.records.versions(orgId, accountId, def.name);
    const missing = [...expected.keys()].filter((id) => !stored.has(id));
    const extra = [...stored.keys()].filter((id) => !expected.has(id));
    if (missing.length || extra.length)
      problems.push(`${def.name}: ${missing.length} missing, ${extra.length} extra (of ${expected.size})`);
    if (options.compareObjects !== false) {
      let differing = 0;
      for (const [id, object] of expected) {
        if (!stored.has(id)) continue;
        const record = await stack.records.get(orgId, accountId, def.name, id);
        if (JSON.stringify(record?.object) !== JSON.stringify(object)) differing++;
      }
      if (differing) problems.push(`${def.name}: ${differing} stored objects differ from Stripe's latest`);
    }
  }
  if (problems.length) throw new Error(`records store has not converged:\n  ${problems.join('\n  ')}`);
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
    const connection = await stack.store.getConnection(orgId);
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
