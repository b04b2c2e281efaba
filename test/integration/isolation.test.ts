import type { LocalStack } from '../../local/stack.js';
import { routes } from '../../shared/http/routes.js';
import { onlyConnection } from '../support/connections.js';
import {
  api,
  BAKERY_ACCOUNT,
  connectOrg,
  DEMO_ACCOUNT,
  SETTLE_MS,
  startTestStack,
  tokenFor,
} from '../support/local-stack.js';
import { waitForSync } from '../support/sync.js';
import { deliverSigned, stripeEvent } from '../support/webhooks.js';

jest.setTimeout(180_000);

let stack: LocalStack;
const ORGS = { a: 'org_iso_a', b: 'org_iso_b' } as const;
const ACCOUNTS = { a: BAKERY_ACCOUNT, b: DEMO_ACCOUNT } as const;

async function snapshot(org: 'a' | 'b') {
  const orgId = ORGS[org];
  const connection = await onlyConnection(stack.store, orgId);
  const secrets = (await stack.vault.names()).filter((n) => n.includes(`/${orgId}/`));
  const records = await stack.records.versions(
    { orgId: orgId, mode: 'test', accountId: ACCOUNTS[org] },
    'charges',
  );
  return JSON.stringify({
    connection: { ...connection, sync: undefined },
    secrets,
    records: [...records.entries()].sort(),
  });
}

beforeAll(async () => {
  stack = await startTestStack({ SYNC_BUDGET_TEST: '100' });
  await connectOrg(stack, ORGS.a, { account: ACCOUNTS.a });
  await connectOrg(stack, ORGS.b, { account: ACCOUNTS.b });
  await waitForSync(stack, ORGS.a);
  await waitForSync(stack, ORGS.b);
});
afterAll(() => stack.close());

/** Every route, called by `actor` in every way it may: its own org's admin and member tokens, and the webhook. */
async function everyRoute(actor: 'a' | 'b') {
  const orgId = ORGS[actor];
  const bodies: string[] = [];
  // A webhook for the actor's own account (before the actor disconnects below).
  await deliverSigned(
    stack,
    stripeEvent(
      'charge.succeeded',
      { id: `ch_iso_${actor}`, object: 'charge', created: 1_790_000_000, amount: 1 },
      { account: ACCOUNTS[actor] },
    ),
  );
  await stack.queues.webhooks.idle(SETTLE_MS);
  for (const role of ['admin', 'member'] as const) {
    const token = await tokenFor(stack, orgId, role);
    for (const route of routes) {
      if (route.function === 'webhook-intake' || route.function === 'oauth-callback') continue;
      // A route that names a connection: the other org's (and its erase), then the actor's own.
      const other = `test_${ACCOUNTS[actor === 'a' ? 'b' : 'a']}`;
      const paths = route.path.includes('{connectionId}')
        ? [
            route.path.replace('{connectionId}', other),
            ...(route.method === 'DELETE'
              ? [`${route.path.replace('{connectionId}', other)}?records=erase`]
              : []),
            route.path.replace('{connectionId}', `test_${ACCOUNTS[actor]}`),
          ]
        : [route.path];
      // A POST tried with each body it takes: an incremental sync and a full re-sync alike.
      const posts =
        route.method === 'POST' && route.path.endsWith('/sync')
          ? [{}, { mode: 'full', resources: ['charges'] }, { mode: 'full' }]
          : [{}];
      for (const path of paths) {
        for (const body of route.method === 'POST' ? posts : [undefined]) {
          const response = await api(stack, route.method, path, {
            token,
            ...(body ? { body } : {}),
            headers: { 'x-org-id': ORGS[actor === 'a' ? 'b' : 'a'] },
          });
          const label = `${route.method} ${path} ${JSON.stringify(body ?? null)}`;
          // Admin-only routes refuse a member before looking; a route members may call (the
          // records) finds no such connection in their org, as an admin does.
          const memberMay = route.access === 'member';
          if (path.includes(other))
            expect([label, response.status]).toEqual([label, role === 'admin' || memberMay ? 404 : 403]);
          bodies.push(response.text);
        }
      }
    }
  }
  return bodies;
}

describe.each([
  ['a', 'b'],
  ['b', 'a'],
] as const)('org %s on every route', (actor, other) => {
  it(`never reads or changes org ${other}`, async () => {
    const before = await snapshot(other);
    const bodies = await everyRoute(actor);
    expect(bodies.join('\n')).not.toContain(ACCOUNTS[other]);
    expect(bodies.join('\n')).not.toContain(ORGS[other]);
    await stack.queues.sync.idle(SETTLE_MS);
    expect(await snapshot(other)).toBe(before);
    expect(
      await stack.records.get(
        { orgId: ORGS[other], mode: 'test', accountId: ACCOUNTS[other] },
        'charges',
        `ch_iso_${actor}`,
      ),
    ).toBeUndefined();
    expect(
      await stack.records.get(
        { orgId: ORGS[actor], mode: 'test', accountId: ACCOUNTS[actor] },
        'charges',
        `ch_iso_${actor}`,
      ),
    ).toBeDefined();
  });
});
