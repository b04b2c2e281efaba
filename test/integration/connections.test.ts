import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { DeleteCommand, GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { LOCAL_TABLES, type LocalStack } from '../../local/stack.js';
import { documentClient } from '../../shared/adapters/dynamodb/document-client.js';
import { keys, recordKeys } from '../../shared/data/keys.js';
import { type Connection, type Mode, publicConnectionId, refOf } from '../../shared/domain/connection.js';
import type { SyncJob } from '../../shared/domain/sync-job.js';
import { connectionViewSchema, statusResponseSchema } from '../../shared/http/api-schemas.js';
import { scopeOf } from '../../shared/ports/records-store.js';
import { RESOURCES, type ResourceName } from '../../shared/records/registry.js';
import { runErase } from '../../shared/sync/erase.js';
import { api, connectOrg, settle, startTestStack, type TestClock, tokenFor } from '../support/local-stack.js';
import { expectConverged, sandboxObjects } from '../support/sync.js';

jest.setTimeout(300_000);

/**
 * Several Stripe accounts per org, each in test and/or live mode (issue 17): one connection per
 * (org, mode, account), addressed by its id; a full re-sync an admin starts; an erase on request.
 */
let stack: LocalStack & { clock: TestClock };
let n = 0;
const COUNTS = {
  balance_transactions: 30,
  charges: 20,
  refunds: 3,
  invoices: 4,
  credit_notes: 1,
  disputes: 1,
};

beforeAll(async () => {
  stack = await startTestStack(
    {
      SYNC_BUDGET_TEST: '100',
      SYNC_BUDGET_LIVE: '100',
      SYNC_MIN_INTERVAL_SECONDS: '1',
    },
    // The erase tests say when time passes (stack.clock) rather than wait for it.
    { sync: { eraseGraceMs: 30_000 } },
  );
});
afterAll(() => stack.close());

function newAccount(counts: Partial<typeof COUNTS> = {}) {
  const suffix = String(++n).padStart(4, '0');
  const accountId = `acct_1ConnTest${suffix}000000`;
  stack.sandbox.sandbox.addAccount({
    id: accountId,
    name: `Entity ${suffix}`,
    counts: { ...COUNTS, ...counts },
  });
  return accountId;
}
const newOrg = () => `org_conn_${++n}`;

async function connect(orgId: string, accountId: string, mode: Mode) {
  const result = await connectOrg(stack, orgId, { account: accountId, body: { mode } });
  expect(result.outcome).toBe('connected');
  await settle(stack, ['sync']);
}

async function statusOf(orgId: string, role: 'admin' | 'member' = 'member') {
  const response = await api(stack, 'GET', '/v1/integrations/stripe/status', {
    token: await tokenFor(stack, orgId, role),
  });
  expect(response.status).toBe(200);
  // Checked against the documented schema, so a field the API drops or renames fails here.
  return statusResponseSchema.parse(response.json);
}

async function connectionOf(orgId: string, accountId: string, mode: Mode): Promise<Connection> {
  const found = (await stack.store.listConnections(orgId)).find(
    (c) => c.accountId === accountId && c.livemode === (mode === 'live'),
  );
  if (!found) throw new Error(`no ${mode} connection of ${orgId} to ${accountId}`);
  return found;
}

const idOf = (accountId: string, mode: Mode) => `${mode}_${accountId}`;
const db = () => documentClient(stack.dynamoClient);

/** Every item under one records partition key. */
async function itemsAt(pk: string) {
  const { Items } = await db().send(
    new QueryCommand({
      TableName: LOCAL_TABLES.records,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': pk },
      ConsistentRead: true,
    }),
  );
  return Items ?? [];
}
/**
 * What a partition holds of the org's data: every item but its feed item, which an erase keeps
 * (it holds positions only) so a later connection's writes come after what was erased.
 */
const partitionItems = async (orgId: string, accountId: string, mode: Mode) =>
  (await itemsAt(recordKeys.partition({ orgId, mode, accountId }))).filter(
    (item) => item.sk !== recordKeys.feed({ orgId, mode, accountId }).sk,
  );
/** The feed item's attributes: its key, the next position, the seeding flag and the blocks' tokens. */
async function feedAttributes(orgId: string, accountId: string, mode: Mode) {
  const { Item } = await db().send(
    new GetCommand({ TableName: LOCAL_TABLES.records, Key: recordKeys.feed({ orgId, mode, accountId }) }),
  );
  return Object.keys(Item ?? {})
    .filter((name) => !/^[otd]_[0-9a-f]{20}$/.test(name))
    .sort();
}

/** `POST …/connections/{id}/sync` as the org's admin: incremental, or the body's full re-sync. */
async function syncById(orgId: string, accountId: string, mode: Mode, body?: Record<string, unknown>) {
  return api(stack, 'POST', `/v1/integrations/stripe/connections/${idOf(accountId, mode)}/sync`, {
    token: await tokenFor(stack, orgId),
    ...(body ? { body } : {}),
  });
}

describe('several accounts, in both modes', () => {
  it('an org with two accounts in both modes has four connections, and four disjoint partitions equal to the sandbox', async () => {
    const orgId = newOrg();
    const accounts = [newAccount(), newAccount()];
    const pairs = accounts.flatMap((accountId) =>
      (['test', 'live'] as const).map((mode) => ({ accountId, mode })),
    );
    for (const { accountId, mode } of pairs) await connect(orgId, accountId, mode);

    const status = await statusOf(orgId);
    expect(status.connections.map((c) => c.id).sort()).toEqual(
      pairs.map(({ accountId, mode }) => idOf(accountId, mode)).sort(),
    );
    for (const view of status.connections) {
      expect(view).toMatchObject({ status: 'connected', sync: { state: 'idle' } });
      expect(view.sync.lastSuccessAt).not.toBeNull();
      expect(view.account.livemode).toBe(view.mode === 'live');
      // Each connection names its account (read by its first run), and shows no progress when idle.
      expect(view.account.name).toBe(stack.sandbox.sandbox.accounts.get(view.account.id)?.name);
      expect(view.account.name).toMatch(/^Entity \d{4}$/);
      expect(view.sync.progress).toBeNull();
    }
    // The summary is the newest connection's, for a page that shows one.
    expect(status.status).toBe('connected');
    expect(status.account?.id).toBe(status.connections[0]?.account.id);

    const seen = new Set<string>();
    for (const { accountId, mode } of pairs) {
      await expectConverged(stack, orgId, accountId, { mode, compareObjects: true });
      const view = status.connections.find((c) => c.id === idOf(accountId, mode));
      for (const def of RESOURCES) {
        const truth = sandboxObjects(stack, accountId, def.name, mode);
        expect(view?.sync.counts[def.name] ?? 0).toBe(truth.size);
      }
      // Disjoint: no item of one partition is in another.
      for (const item of await partitionItems(orgId, accountId, mode)) {
        const key = `${item.resource}#${item.objectId}`;
        if (item.objectId === undefined) continue;
        expect(seen.has(key)).toBe(false);
        seen.add(key);
        expect(item).toMatchObject({ orgId, mode, accountId });
      }
    }
    expect(seen.size).toBeGreaterThan(0);
  });

  it('connecting the same account in the same mode again re-authorises its connection: no duplicate, the same id, the records kept', async () => {
    const orgId = newOrg();
    const accountId = newAccount();
    await connect(orgId, accountId, 'test');
    const first = await connectionOf(orgId, accountId, 'test');
    await connect(orgId, accountId, 'test');
    const connections = await stack.store.listConnections(orgId);
    expect(connections).toHaveLength(1);
    expect(connections[0]?.connectionId).not.toBe(first.connectionId);
    expect(connections[0]?.slot).toBe(first.slot);
    const status = await statusOf(orgId);
    expect(status.connections.map((c) => c.id)).toEqual([idOf(accountId, 'test')]);
    // The replaced tokens are gone: one secret for the org.
    expect((await stack.vault.names()).filter((name) => name.includes(`/${orgId}/`))).toHaveLength(1);
    await expectConverged(stack, orgId, accountId);
  });

  it('routes a webhook by its account and livemode: only that connection’s partition changes', async () => {
    const orgId = newOrg();
    const accountId = newAccount();
    await connect(orgId, accountId, 'test');
    await connect(orgId, accountId, 'live');
    const testBefore = (await partitionItems(orgId, accountId, 'test')).length;
    const { objects } = stack.sandbox.sandbox.createActivity(accountId, 'live', 'charge');
    await settle(stack, ['webhooks', 'sync']);
    const charge = objects.find((id) => id.startsWith('ch_')) as string;
    expect(await stack.records.get({ orgId, mode: 'live', accountId }, 'charges', charge)).toBeDefined();
    expect(await stack.records.get({ orgId, mode: 'test', accountId }, 'charges', charge)).toBeUndefined();
    expect((await partitionItems(orgId, accountId, 'test')).length).toBe(testBefore);
    // Its balance transaction has no event: the live connection's next sync reads it.
    const synced = await syncById(orgId, accountId, 'live');
    expect(synced.status).toBe(202);
    await settle(stack, ['sync']);
    await expectConverged(stack, orgId, accountId, { mode: 'live' });
    await expectConverged(stack, orgId, accountId, { mode: 'test' });
  });
});

describe('addressing one connection', () => {
  it('sync and disconnect take a connection id; without one, the org’s only connection in use; several is 409, an unknown id 404', async () => {
    const orgId = newOrg();
    const [a, b] = [newAccount(), newAccount()];
    await connect(orgId, a, 'test');
    await connect(orgId, b, 'test');
    const admin = await tokenFor(stack, orgId);
    const member = await tokenFor(stack, orgId, 'member');

    const ambiguous = await api(stack, 'POST', '/v1/integrations/stripe/sync', { token: admin });
    expect(ambiguous.status).toBe(409);
    expect(ambiguous.json).toMatchObject({ error: { code: 'connection_ambiguous' } });
    const ambiguousDelete = await api(stack, 'DELETE', '/v1/integrations/stripe', { token: admin });
    expect(ambiguousDelete.status).toBe(409);

    const one = await syncById(orgId, a, 'test');
    expect(one.status).toBe(202);
    expect(one.json).toMatchObject({ state: 'queued', connection: idOf(a, 'test'), mode: 'incremental' });
    await settle(stack, ['sync']);

    for (const id of [idOf(a, 'live'), 'test_acct_1NoSuchAccount', 'garbage', 'test_acct_x%2F..%2F']) {
      for (const [method, path] of [
        ['GET', `/v1/integrations/stripe/connections/${id}`],
        ['POST', `/v1/integrations/stripe/connections/${id}/sync`],
        ['DELETE', `/v1/integrations/stripe/connections/${id}`],
        ['DELETE', `/v1/integrations/stripe/connections/${id}?records=erase`],
      ] as const) {
        const response = await api(stack, method, path, { token: admin });
        expect([method, path, response.status]).toEqual([method, path, 404]);
      }
    }
    // A member can do none of it.
    for (const [method, path] of [
      ['POST', `/v1/integrations/stripe/connections/${idOf(a, 'test')}/sync`],
      ['DELETE', `/v1/integrations/stripe/connections/${idOf(a, 'test')}`],
      ['DELETE', `/v1/integrations/stripe/connections/${idOf(a, 'test')}?records=erase`],
      ['POST', '/v1/integrations/stripe/connect'],
    ] as const) {
      expect((await api(stack, method, path, { token: member, body: {} })).status).toBe(403);
    }
    expect((await statusOf(orgId)).connections.every((c) => c.status === 'connected')).toBe(true);
    // A member reads one connection by its id, as the status lists it; another org cannot.
    const listed = (await statusOf(orgId)).connections;
    for (const view of listed) {
      const one = await api(stack, 'GET', `/v1/integrations/stripe/connections/${view.id}`, {
        token: member,
      });
      expect(one.status).toBe(200);
      expect(one.headers.get('cache-control')).toBe('no-store');
      expect(connectionViewSchema.parse(one.json)).toEqual(view);
    }
    // An id sent percent-encoded reaches the same connection: the API hands functions decoded parameters.
    const encoded = idOf(a, 'test').replace(/_/g, '%5F');
    const viaEncoded = await api(stack, 'GET', `/v1/integrations/stripe/connections/${encoded}`, {
      token: member,
    });
    expect(viaEncoded.status).toBe(200);
    expect(viaEncoded.json).toMatchObject({ id: idOf(a, 'test') });
    const stranger = await tokenFor(stack, newOrg(), 'member');
    const foreign = await api(stack, 'GET', `/v1/integrations/stripe/connections/${idOf(a, 'test')}`, {
      token: stranger,
    });
    expect(foreign.status).toBe(404);
    expect(foreign.json).toMatchObject({ error: { code: 'connection_not_found' } });
    expect(JSON.stringify(foreign.json)).not.toContain(orgId);
    expect((await api(stack, 'GET', `/v1/integrations/stripe/connections/${idOf(a, 'test')}`)).status).toBe(
      401,
    );

    const bad = await api(
      stack,
      'DELETE',
      `/v1/integrations/stripe/connections/${idOf(a, 'test')}?records=all`,
      {
        token: admin,
      },
    );
    expect(bad.status).toBe(400);
    expect((await connectionOf(orgId, a, 'test')).status).toBe('connected');

    const gone = await api(stack, 'DELETE', `/v1/integrations/stripe/connections/${idOf(a, 'test')}`, {
      token: admin,
    });
    expect(gone.status).toBe(204);
    const after = await statusOf(orgId);
    expect(Object.fromEntries(after.connections.map((c) => [c.id, c.status]))).toEqual({
      [idOf(a, 'test')]: 'disconnected',
      [idOf(b, 'test')]: 'connected',
    });
    // The summary shows the one in use; records of the disconnected one are kept.
    expect(after.account?.id).toBe(b);
    expect((await partitionItems(orgId, a, 'test')).length).toBeGreaterThan(0);
    // Only one is in use now: the routes without an id address it.
    const only = await api(stack, 'POST', '/v1/integrations/stripe/sync', { token: admin });
    expect(only.status).toBe(202);
    expect(only.json).toMatchObject({ connection: idOf(b, 'test') });
    await settle(stack, ['sync']);
    expect(
      (await api(stack, 'DELETE', `/v1/integrations/stripe/connections/${idOf(a, 'test')}`, { token: admin }))
        .status,
    ).toBe(204);
  });

  it('two orgs connected to the same account in the same mode share an id, and each reaches only its own', async () => {
    const accountId = newAccount();
    const [one, two] = [newOrg(), newOrg()];
    await connect(one, accountId, 'test');
    await connect(two, accountId, 'test');
    const id = idOf(accountId, 'test');
    const twoBefore = await connectionOf(two, accountId, 'test');
    const response = await api(stack, 'DELETE', `/v1/integrations/stripe/connections/${id}?records=erase`, {
      token: await tokenFor(stack, one),
    });
    expect(response.status).toBe(202);
    await settle(stack, ['sync']);
    expect((await connectionOf(one, accountId, 'test')).status).toBe('disconnected');
    expect(await partitionItems(one, accountId, 'test')).toEqual([]);
    const twoAfter = await connectionOf(two, accountId, 'test');
    expect(twoAfter).toMatchObject({ status: 'connected', connectionId: twoBefore.connectionId });
    expect((await partitionItems(two, accountId, 'test')).length).toBeGreaterThan(0);
    await expectConverged(stack, two, accountId);
  });
});

describe('full re-sync', () => {
  it('reads the chosen resources again, marks deleted what Stripe no longer has, and reports what it added, changed and deleted', async () => {
    const orgId = newOrg();
    const accountId = newAccount();
    await connect(orgId, accountId, 'test');
    const connection = await connectionOf(orgId, accountId, 'test');
    const scope = scopeOf(connection);
    const charges = [...sandboxObjects(stack, accountId, 'charges').keys()];
    // What a lost event or an outage leaves behind: a charge Stripe no longer has (its deletion
    // never reached us), one stored copy gone, one stale and wrong.
    await stack.records.put({
      ...scope,
      resource: 'charges',
      object: { id: 'ch_1GoneFromStripe0001', object: 'charge', created: 1_700_000_000, livemode: false },
      version: '000000000001:0:000000000001:0000000000000000',
      source: 'webhook',
    });
    await stack.records.addCounts(scope, { charges: 1 });
    await db().send(
      new DeleteCommand({
        TableName: LOCAL_TABLES.records,
        Key: recordKeys.record(scope, 'charges', charges[0] as string),
      }),
    );
    const staleKey = recordKeys.record(scope, 'charges', charges[1] as string);
    const { Item: stale } = await db().send(
      new GetCommand({ TableName: LOCAL_TABLES.records, Key: staleKey }),
    );
    await db().send(
      new PutCommand({
        TableName: LOCAL_TABLES.records,
        // Wrong where Defrr reads it (the object) too, not only in an attribute.
        Item: {
          ...stale,
          version: `000000000002${String(stale?.version).slice(12)}`,
          amount: -1,
          data: gzipSync(
            JSON.stringify({
              ...JSON.parse(gunzipSync(stale?.data as Uint8Array).toString('utf8')),
              amount: -1,
            }),
          ),
        },
      }),
    );
    await expect(expectConverged(stack, orgId, accountId)).rejects.toThrow();

    const admin = await tokenFor(stack, orgId);
    const path = `/v1/integrations/stripe/connections/${idOf(accountId, 'test')}/sync`;
    for (const body of [
      { mode: 'full', resources: ['charges', 'nope'] },
      { mode: 'full', resources: [] },
      { mode: 'full', resources: ['charges', 'charges'] },
      { resources: ['charges'] },
      { mode: 'everything' },
      { mode: 'full', extra: true },
    ]) {
      const refused = await api(stack, 'POST', path, { token: admin, body });
      expect([JSON.stringify(body), refused.status]).toEqual([JSON.stringify(body), 400]);
    }
    expect((await connectionOf(orgId, accountId, 'test')).fullSync ?? null).toBeNull();

    stack.queues.sync.pause();
    const asked = await api(stack, 'POST', path, {
      token: admin,
      body: { mode: 'full', resources: ['charges'] },
    });
    expect(asked.status).toBe(202);
    expect(asked.json).toMatchObject({ mode: 'full', connection: idOf(accountId, 'test') });
    // Rate-limited like the incremental sync, and admin only; neither refusal changes the pass
    // asked for. (The clock is held back for the first, so a stalled machine cannot make "at
    // once" later than the interval.)
    stack.clock.advance(-5_000);
    try {
      const soon = await api(stack, 'POST', path, {
        token: admin,
        body: { mode: 'full', resources: ['refunds'] },
      });
      expect(soon.status).toBe(429);
      expect(soon.json).toMatchObject({ error: { code: 'sync_recently_requested' } });
      expect(soon.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
    } finally {
      stack.clock.advance(5_000);
    }
    const member = await tokenFor(stack, orgId, 'member');
    expect((await api(stack, 'POST', path, { token: member, body: { mode: 'full' } })).status).toBe(403);
    expect((await statusOf(orgId)).connections[0]?.fullSync).toMatchObject({
      state: 'pending',
      resources: ['charges'],
    });
    await new Promise((resolve) => setTimeout(resolve, 1100));
    // Asked again before it began: the newer request replaces it.
    const again = await api(stack, 'POST', path, {
      token: admin,
      body: { mode: 'full', resources: ['charges', 'refunds'] },
    });
    expect(again.status).toBe(202);
    expect((await statusOf(orgId)).connections[0]?.fullSync).toMatchObject({
      state: 'pending',
      resources: ['charges', 'refunds'],
    });
    stack.queues.sync.resume();
    await settle(stack, ['sync']);

    const view = (await statusOf(orgId)).connections[0];
    expect(view?.fullSync).toMatchObject({
      state: 'done',
      resources: ['charges', 'refunds'],
      added: 1,
      deleted: 1,
    });
    expect(view?.fullSync?.updated).toBeGreaterThanOrEqual(1);
    expect(view?.fullSync?.finishedAt).not.toBeNull();
    const gone = await stack.records.get(scope, 'charges', 'ch_1GoneFromStripe0001');
    expect(gone?.deleted).toBe(true);
    await expectConverged(stack, orgId, accountId, { compareObjects: true });
    expect(view?.sync.counts.charges).toBe(charges.length);

    // A pass that never finishes (a resource Stripe keeps refusing, say) does not block the
    // next: a newer request replaces it, and its stale writes are refused.
    const current = await connectionOf(orgId, accountId, 'test');
    const stuck = {
      id: 'full_stuck',
      resources: ['disputes'],
      state: 'running' as const,
      requestedAt: stack.clock.now().toISOString(),
      startedAt: stack.clock.now().toISOString(),
      finishedAt: null,
      swept: [],
      added: 0,
      updated: 0,
      deleted: 0,
    };
    expect(await stack.store.requestFullSync(refOf(current), current.connectionId, stuck)).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect((await api(stack, 'POST', path, { token: admin, body: { mode: 'full' } })).status).toBe(202);
    await settle(stack, ['sync']);
    const all = (await statusOf(orgId)).connections[0]?.fullSync;
    expect(all).toMatchObject({ state: 'done', added: 0, deleted: 0 });
    expect((await connectionOf(orgId, accountId, 'test')).fullSync?.id).not.toBe('full_stuck');
    expect(
      await stack.store.updateFullSync(refOf(current), current.connectionId, 'full_stuck', { state: 'done' }),
    ).toBe(false);
    expect(all?.resources.sort()).toEqual(RESOURCES.map((def) => def.name).sort());
    await expectConverged(stack, orgId, accountId, { compareObjects: true });
  });
});

describe('erase on request', () => {
  it('racing erase requests make one erase and one job; racing workers: one erases, the other skips', async () => {
    const orgId = newOrg();
    const accountId = newAccount();
    await connect(orgId, accountId, 'test');
    const kept = (await partitionItems(orgId, accountId, 'test')).length;
    const admin = await tokenFor(stack, orgId);
    const path = `/v1/integrations/stripe/connections/${idOf(accountId, 'test')}`;
    stack.queues.sync.pause();
    const answers = await Promise.all(
      Array.from({ length: 8 }, () => api(stack, 'DELETE', `${path}?records=erase`, { token: admin })),
    );
    expect(answers.map((a) => a.status)).toEqual(Array(8).fill(202));
    const requested = new Set(
      answers.map((a) => (a.json as { erasure: { requestedAt: string } }).erasure.requestedAt),
    );
    expect(requested.size).toBe(1);
    expect(stack.queues.sync.purge()).toBe(1);
    // What the status shows of it: no worker's bookkeeping; counts no longer the last run's.
    const queued = (await statusOf(orgId)).connections[0];
    expect(Object.keys(queued?.erasure ?? {}).sort()).toEqual([
      'finishedAt',
      'items',
      'requestedAt',
      'state',
    ]);

    stack.clock.advance(31_000);
    const erasing = await connectionOf(orgId, accountId, 'test');
    const job: SyncJob = { ...refOf(erasing), connectionId: erasing.connectionId, reason: 'erase' };
    const outcomes = await Promise.all([
      runErase(stack.syncDeps, job, () => 15 * 60_000),
      runErase(stack.syncDeps, job, () => 15 * 60_000),
    ]);
    expect(outcomes.map((o) => o.outcome).sort()).toEqual(['completed', 'skipped']);
    expect(await partitionItems(orgId, accountId, 'test')).toEqual([]);
    const done = (await statusOf(orgId)).connections[0];
    expect(done).toMatchObject({ erasure: { state: 'done', items: kept }, sync: { counts: {} } });
    expect(Object.keys(done?.erasure ?? {}).sort()).toEqual(['finishedAt', 'items', 'requestedAt', 'state']);
    // Asked again: a new erase (of nothing); the status never brings back the old counts.
    stack.clock.advance(1000);
    expect((await api(stack, 'DELETE', `${path}?records=erase`, { token: admin })).status).toBe(202);
    expect(stack.queues.sync.purge()).toBe(1);
    expect((await statusOf(orgId)).connections[0]).toMatchObject({
      erasure: { state: 'queued', items: 0 },
      sync: { counts: {} },
    });
    stack.queues.sync.resume();
  });

  it('a misspelt option of a disconnect is refused, and changes nothing', async () => {
    const orgId = newOrg();
    const accountId = newAccount();
    await connect(orgId, accountId, 'test');
    const admin = await tokenFor(stack, orgId);
    const path = `/v1/integrations/stripe/connections/${idOf(accountId, 'test')}`;
    for (const query of ['record=erase', 'Records=erase', 'records[]=erase', 'foo=bar', 'records=yes']) {
      const refused = await api(stack, 'DELETE', `${path}?${query}`, { token: admin });
      expect([query, refused.status]).toEqual([query, 400]);
    }
    expect((await connectionOf(orgId, accountId, 'test')).status).toBe('connected');
    // A body that says it is not JSON is not read as JSON.
    const sync = await api(stack, 'POST', `${path}/sync`, {
      token: admin,
      body: { mode: 'full' },
      headers: { 'content-type': 'text/plain' },
    });
    expect(sync.status).toBe(415);
    expect((await connectionOf(orgId, accountId, 'test')).fullSync ?? null).toBeNull();
  });

  it('a full re-sync not done when the connection is disconnected shows as cancelled', async () => {
    const orgId = newOrg();
    const accountId = newAccount();
    await connect(orgId, accountId, 'test');
    const admin = await tokenFor(stack, orgId);
    const path = `/v1/integrations/stripe/connections/${idOf(accountId, 'test')}`;
    stack.queues.sync.pause();
    expect((await api(stack, 'POST', `${path}/sync`, { token: admin, body: { mode: 'full' } })).status).toBe(
      202,
    );
    expect((await statusOf(orgId)).connections[0]?.fullSync).toMatchObject({ state: 'pending' });
    expect((await api(stack, 'DELETE', path, { token: admin })).status).toBe(204);
    stack.queues.sync.purge();
    stack.queues.sync.resume();
    expect((await statusOf(orgId)).connections[0]).toMatchObject({
      status: 'disconnected',
      fullSync: { state: 'cancelled', finishedAt: null },
    });
  });

  it('disconnect keeps the records; records=erase erases them, resumably, and the status says so', async () => {
    const orgId = newOrg();
    // More items than one page of the erase (200).
    const accountId = newAccount({ balance_transactions: 300 });
    await connect(orgId, accountId, 'test');
    const admin = await tokenFor(stack, orgId);
    const path = `/v1/integrations/stripe/connections/${idOf(accountId, 'test')}`;
    // A reader of the feed, at its end: it holds every record (the feed settled: 2 s on).
    stack.clock.advance(3_000);
    type FeedReply = { data: Array<{ cursor: string }>; next: string; has_more: boolean };
    const feed = async (after?: string) =>
      api(stack, 'GET', `${path}/records?limit=1000${after ? `&after=${after}` : ''}`, { token: admin });
    let held = (await feed()).json as FeedReply;
    while (held.has_more) held = (await feed(held.next)).json as FeedReply;
    const position = (cursor: string) => Number(cursor.split('_').at(-1));
    expect(position(held.next)).toBeGreaterThan(300);
    expect((await api(stack, 'DELETE', path, { token: admin })).status).toBe(204);
    const kept = (await partitionItems(orgId, accountId, 'test')).length;
    expect(kept).toBeGreaterThan(300);

    // The erase runs out of time after its first page, then resumes where it stopped.
    stack.queues.sync.pause();
    const asked = await api(stack, 'DELETE', `${path}?records=erase`, { token: admin });
    expect(asked.status).toBe(202);
    expect(asked.json).toMatchObject({
      connection: idOf(accountId, 'test'),
      erasure: { state: 'queued', items: 0 },
    });
    stack.queues.sync.purge();
    const connection = await connectionOf(orgId, accountId, 'test');
    const job: SyncJob = { ...refOf(connection), connectionId: connection.connectionId, reason: 'erase' };
    // It waits first for writers that read the connection before the disconnect.
    await expect(runErase(stack.syncDeps, job, () => 15 * 60_000)).resolves.toMatchObject({
      outcome: 'deferred',
    });
    expect(stack.queues.sync.purge()).toBe(1);
    expect((await partitionItems(orgId, accountId, 'test')).length).toBe(kept);
    stack.clock.advance(31_000);
    let calls = 0;
    const first = await runErase(stack.syncDeps, job, () => (++calls <= 1 ? 60_000 : 0));
    expect(first.outcome).toBe('continued');
    const partial = (await connectionOf(orgId, accountId, 'test')).erasure;
    expect(partial).toMatchObject({ state: 'running' });
    expect(partial?.items).toBeGreaterThan(0);
    expect(partial?.items).toBeLessThan(kept);
    expect(partial?.after).toEqual(expect.any(String));
    stack.queues.sync.purge();
    stack.queues.sync.resume();
    await expect(runErase(stack.syncDeps, job, () => 15 * 60_000)).resolves.toMatchObject({
      outcome: 'completed',
    });
    expect(await partitionItems(orgId, accountId, 'test')).toEqual([]);
    // What stays holds no Stripe data: positions only.
    expect(await feedAttributes(orgId, accountId, 'test')).toEqual(['erased', 'next', 'pk', 'seeded', 'sk']);
    const view = (await statusOf(orgId)).connections[0];
    expect(view).toMatchObject({ status: 'disconnected', erasure: { state: 'done', items: kept } });
    expect(view?.sync.counts).toEqual({});
    // The checkpoints went too: a reconnect reads everything again, and converges.
    for (const def of RESOURCES)
      expect(
        await stack.syncDeps.checkpoints.get(refOf(connection), def.name as ResourceName),
      ).toBeUndefined();
    await connect(orgId, accountId, 'test');
    await expectConverged(stack, orgId, accountId);
    const reconnected = (await statusOf(orgId)).connections[0];
    expect(reconnected).toMatchObject({ status: 'connected', erasure: null });
    // The reader's cursor is from before the erase: refused, not read on from (it would keep
    // what the erase removed, told no `deleted` for it). Read from the start, the feed holds
    // only what the new connection wrote, every position after the old reader's.
    stack.clock.advance(3_000);
    const stale = await feed(held.next);
    expect(stale.status).toBe(400);
    expect(stale.json).toMatchObject({
      error: { code: 'invalid_cursor', message: expect.stringContaining('erased') },
    });
    let fresh = (await feed()).json as FeedReply;
    const positions = fresh.data.map((change) => position(change.cursor));
    while (fresh.has_more) {
      fresh = (await feed(fresh.next)).json as FeedReply;
      positions.push(...fresh.data.map((change) => position(change.cursor)));
    }
    expect(positions.length).toBeGreaterThan(300);
    expect(Math.min(...positions)).toBeGreaterThan(position(held.next));
  });

  it('a reconnect is refused until the erase is done, and the erase waits for a sync that held the connection', async () => {
    const orgId = newOrg();
    const accountId = newAccount();
    await connect(orgId, accountId, 'test');
    // A sync still holds its lease when the admin disconnects: it may write for a while yet.
    const held = await connectionOf(orgId, accountId, 'test');
    const leaseUntil = stack.clock.now().getTime() + 90_000;
    await db().send(
      new UpdateCommand({
        TableName: LOCAL_TABLES.service,
        Key: keys.connection(refOf(held)),
        UpdateExpression: 'SET syncLeaseOwner = :owner, syncLeaseUntil = :until',
        ExpressionAttributeValues: { ':owner': 'another-worker', ':until': leaseUntil },
      }),
    );
    stack.queues.sync.pause();
    const path = `/v1/integrations/stripe/connections/${idOf(accountId, 'test')}?records=erase`;
    expect((await api(stack, 'DELETE', path, { token: await tokenFor(stack, orgId) })).status).toBe(202);
    expect(stack.queues.sync.purge()).toBe(1);
    const erasing = await connectionOf(orgId, accountId, 'test');
    const job: SyncJob = { ...refOf(erasing), connectionId: erasing.connectionId, reason: 'erase' };

    // Queued, not begun: a reconnect is refused (and the erase sent again), the connection stays.
    const refused = await connectOrg(stack, orgId, { account: accountId, body: { mode: 'test' } });
    expect(refused).toMatchObject({ outcome: 'error', reason: 'erase_in_progress' });
    expect(stack.queues.sync.purge()).toBe(1);
    expect(await connectionOf(orgId, accountId, 'test')).toMatchObject({
      status: 'disconnected',
      connectionId: erasing.connectionId,
    });

    // Past the grace, the sync's lease still runs: the erase waits for it, then erases.
    stack.clock.advance(31_000);
    await expect(runErase(stack.syncDeps, job, () => 15 * 60_000)).resolves.toMatchObject({
      outcome: 'deferred',
    });
    expect(stack.queues.sync.purge()).toBe(1);
    expect((await partitionItems(orgId, accountId, 'test')).length).toBeGreaterThan(0);
    stack.clock.advance(60_000);
    stack.queues.sync.resume();
    await expect(runErase(stack.syncDeps, job, () => 15 * 60_000)).resolves.toMatchObject({
      outcome: 'completed',
    });
    expect(await partitionItems(orgId, accountId, 'test')).toEqual([]);
    await connect(orgId, accountId, 'test');
    await expectConverged(stack, orgId, accountId);
  });

  it('while one worker erases, another skips, and a reconnect waits; once its hold lapses the erase goes on', async () => {
    const orgId = newOrg();
    const accountId = newAccount();
    await connect(orgId, accountId, 'test');
    stack.queues.sync.pause();
    const path = `/v1/integrations/stripe/connections/${idOf(accountId, 'test')}?records=erase`;
    expect((await api(stack, 'DELETE', path, { token: await tokenFor(stack, orgId) })).status).toBe(202);
    stack.queues.sync.purge();
    stack.clock.advance(31_000);
    const erasing = await connectionOf(orgId, accountId, 'test');
    // The erase has begun (its worker holds the connection).
    const requestedAt = erasing.erasure?.requestedAt as string;
    expect(
      await stack.store.updateErasure(refOf(erasing), erasing.connectionId, requestedAt, {
        state: 'running',
        leaseUntil: stack.clock.now().getTime() + 60_000,
      }),
    ).toBe(true);
    const refused = await connectOrg(stack, orgId, { account: accountId, body: { mode: 'test' } });
    expect(refused).toMatchObject({ outcome: 'error', reason: 'erase_in_progress' });
    // Held: not sent again.
    expect(stack.queues.sync.purge()).toBe(0);
    expect((await connectionOf(orgId, accountId, 'test')).status).toBe('disconnected');

    const job: SyncJob = { ...refOf(erasing), connectionId: erasing.connectionId, reason: 'erase' };
    await expect(runErase(stack.syncDeps, job, () => 15 * 60_000)).resolves.toMatchObject({
      outcome: 'skipped',
      reason: 'held',
    });
    expect((await partitionItems(orgId, accountId, 'test')).length).toBeGreaterThan(0);
    // The worker died: its hold lapses and the next run erases.
    stack.clock.advance(61_000);
    stack.queues.sync.resume();
    await expect(runErase(stack.syncDeps, job, () => 15 * 60_000)).resolves.toMatchObject({
      outcome: 'completed',
    });
    expect(await partitionItems(orgId, accountId, 'test')).toEqual([]);
    await connect(orgId, accountId, 'test');
    await expectConverged(stack, orgId, accountId);
  });
});

describe('a table written by the one-connection-per-org code', () => {
  it('keeps serving its connection (status, sync, webhooks, reconnect) and adds new ones beside it', async () => {
    const orgId = newOrg();
    const [a, b] = [newAccount(), newAccount()];
    await connect(orgId, a, 'test');
    // Rewrite what the connect stored the way older code kept it: `CONNECTION#stripe`, a link
    // and checkpoints that name no slot.
    const current = await connectionOf(orgId, a, 'test');
    const { Item } = await db().send(
      new GetCommand({ TableName: LOCAL_TABLES.service, Key: keys.connection(refOf(current)) }),
    );
    const { slot: _slot, ...legacy } = Item as Record<string, unknown>;
    await db().send(
      new PutCommand({ TableName: LOCAL_TABLES.service, Item: { ...legacy, sk: 'CONNECTION#stripe' } }),
    );
    await db().send(
      new DeleteCommand({ TableName: LOCAL_TABLES.service, Key: keys.connection(refOf(current)) }),
    );
    const link = keys.accountLink(a, orgId, current.connectionId);
    const { Item: linkItem } = await db().send(
      new GetCommand({ TableName: LOCAL_TABLES.service, Key: link }),
    );
    const { slot: _linkSlot, ...legacyLink } = linkItem as Record<string, unknown>;
    await db().send(new PutCommand({ TableName: LOCAL_TABLES.service, Item: legacyLink }));
    for (const def of RESOURCES) {
      const { Item: cursor } = await db().send(
        new GetCommand({ TableName: LOCAL_TABLES.service, Key: keys.cursor(refOf(current), def.name) }),
      );
      if (!cursor) continue;
      const { slot: _cursorSlot, ...rest } = cursor;
      await db().send(
        new PutCommand({ TableName: LOCAL_TABLES.service, Item: { ...rest, sk: `CURSOR#${def.name}` } }),
      );
      await db().send(
        new DeleteCommand({ TableName: LOCAL_TABLES.service, Key: keys.cursor(refOf(current), def.name) }),
      );
    }
    const migrated = await connectionOf(orgId, a, 'test');
    expect(migrated.slot).toBe('stripe');
    expect(publicConnectionId(migrated)).toBe(idOf(a, 'test'));

    // Status, a sync by id (from its checkpoints: no backfill), a webhook.
    expect((await statusOf(orgId)).connections.map((c) => c.id)).toEqual([idOf(a, 'test')]);
    stack.sandbox.sandbox.createActivity(a, 'test', 'charge');
    await settle(stack, ['webhooks', 'sync']);
    const since = Date.now();
    expect((await syncById(orgId, a, 'test')).status).toBe(202);
    await settle(stack, ['sync']);
    const lists = stack.sandbox.requests.filter(
      (r) => r.account === a && r.at >= since && r.method === 'GET' && !r.path.startsWith('/v1/events'),
    );
    expect(lists.filter((r) => r.path === '/v1/charges')).toHaveLength(0);
    await expectConverged(stack, orgId, a);

    // Connecting the same account again re-authorises it in place; another account is added beside it.
    await connect(orgId, a, 'test');
    await connect(orgId, b, 'test');
    const connections = await stack.store.listConnections(orgId);
    expect(connections.map((c) => [c.slot === 'stripe', c.accountId]).sort()).toEqual(
      [
        [true, a],
        [false, b],
      ].sort(),
    );
    expect((await statusOf(orgId)).connections.map((c) => c.id).sort()).toEqual(
      [idOf(a, 'test'), idOf(b, 'test')].sort(),
    );
    await expectConverged(stack, orgId, a);
    await expectConverged(stack, orgId, b);
  });
});

/** The fixture's items (test/fixtures/legacy-table.json) as DynamoDB items of `orgId`. */
function legacyTable(orgId: string) {
  const fixture = JSON.parse(readFileSync(join(__dirname, '../fixtures/legacy-table.json'), 'utf8')) as {
    orgId: string;
    account: { id: string; name: string; counts: Record<string, number> };
    service: Array<Record<string, unknown>>;
    records: Array<Record<string, unknown>>;
  };
  const revive = (value: unknown): unknown => {
    if (typeof value === 'string') return value.split(fixture.orgId).join(orgId);
    if (Array.isArray(value)) return value.map(revive);
    if (value && typeof value === 'object') {
      const binary = (value as { $binary?: string }).$binary;
      if (typeof binary === 'string') return new Uint8Array(Buffer.from(binary, 'base64'));
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, revive(v)]));
    }
    return value;
  };
  return {
    account: fixture.account,
    service: fixture.service.map((item) => revive(item) as Record<string, unknown>),
    records: fixture.records.map((item) => revive(item) as Record<string, unknown>),
  };
}

const objectOf = (item: Record<string, unknown>) =>
  JSON.parse(gunzipSync(item.data as Uint8Array).toString('utf8')) as Record<string, unknown>;

/**
 * Where each legacy record belongs, worked out from the objects themselves (not from the
 * code under test): an object's own `livemode`; a refund by its charge's; a balance
 * transaction (which has no `livemode`) by its source's; undefined when nothing says.
 */
function expectedModes(records: Array<Record<string, unknown>>) {
  const byKey = new Map(
    records
      .filter((r) => r.sk !== '_counts')
      .map((r) => [r.sk as string, objectOf(r) as Record<string, unknown>]),
  );
  const own = (sk: string): Mode | undefined => {
    const object = byKey.get(sk);
    if (!object || Array.isArray(object)) return undefined;
    return typeof object.livemode === 'boolean' ? (object.livemode ? 'live' : 'test') : undefined;
  };
  const refId = (ref: unknown) => (typeof ref === 'string' ? ref : (ref as { id?: string } | null)?.id);
  const modes = new Map<string, Mode | undefined>();
  for (const [sk, object] of byKey) {
    const [resource] = sk.split('#');
    if (resource === 'balance_transactions') {
      const source = refId(object.source);
      modes.set(
        sk,
        ['charges', 'refunds', 'disputes', 'payouts']
          .map((r) => own(`${r}#${source}`) ?? (r === 'refunds' ? refundMode(`${r}#${source}`) : undefined))
          .find(Boolean),
      );
    } else if (sk.includes('#lines#')) {
      // A page of an object's lines: the object's mode (the page itself is a list).
      const parent = sk.slice(0, sk.indexOf('#lines#'));
      modes.set(sk, own(parent));
    } else if (resource === 'refunds') modes.set(sk, refundMode(sk));
    else modes.set(sk, own(sk));
  }
  function refundMode(sk: string): Mode | undefined {
    const refund = byKey.get(sk);
    return refund ? (own(sk) ?? own(`charges#${refId(refund.charge)}`)) : undefined;
  }
  return modes;
}

describe('the table the one-connection-per-org code wrote (test/fixtures/legacy-table.json)', () => {
  it('serves its connection as written, moves its both-modes partition apart byte for byte (idempotent), routes its webhooks, and converges after a full re-sync and a reconnect', async () => {
    const orgId = newOrg();
    const legacy = legacyTable(orgId);
    const accountId = legacy.account.id;
    stack.sandbox.sandbox.addAccount({ ...legacy.account });
    for (const Item of legacy.service)
      await db().send(new PutCommand({ TableName: LOCAL_TABLES.service, Item }));
    for (const Item of legacy.records)
      await db().send(new PutCommand({ TableName: LOCAL_TABLES.records, Item }));
    // The grant that connection holds, in the vault under the name the item gives (a table is
    // dumped without its secrets): the account installed the app in live mode.
    const written = legacy.service.find((item) => item.sk === 'CONNECTION#stripe') as Record<string, string>;
    const grant = stack.sandbox.sandbox.exchangeCode(
      stack.sandbox.sandbox.install(accountId, 'live'),
      'live',
    ) as Record<string, unknown>;
    await stack.vault.create(
      written.secretName as string,
      {
        accessToken: grant.access_token as string,
        refreshToken: grant.refresh_token as string,
        accountId,
        livemode: true,
        scope: 'stripe_apps',
        obtainedAt: stack.clock.now().toISOString(),
      },
      { orgId },
    );
    await settle(stack, ['webhooks']);

    // Read where it lies: the org's one connection, live.
    const before = await statusOf(orgId);
    expect(before.connections.map((c) => [c.id, c.mode, c.status])).toEqual([
      [idOf(accountId, 'live'), 'live', 'connected'],
    ]);
    const connection = await connectionOf(orgId, accountId, 'live');
    expect([connection.slot, connection.connectionId]).toEqual(['stripe', written.connectionId]);

    // The move: every record to the partition its object says, the bytes and versions as
    // written; the counts item goes (each partition's first run counts afresh).
    const modes = expectedModes(legacy.records);
    expect([...modes.values()].filter((m) => m === 'test').length).toBeGreaterThan(0);
    expect([...modes.values()].filter((m) => m === 'live').length).toBeGreaterThan(0);
    const first = await stack.records.migrateLegacyPartition(orgId, accountId, 'live');
    expect(first.done).toBe(true);
    // What nothing places (a balance transaction of neither mode's objects) is kept aside, its resource read again.
    expect(first.unplaced).toEqual(
      [...new Set([...modes].filter(([, m]) => !m).map(([sk]) => sk.split('#')[0]))].sort(),
    );
    const where = new Map<string, Record<string, unknown>>();
    for (const item of [
      ...(await partitionItems(orgId, accountId, 'test')),
      ...(await partitionItems(orgId, accountId, 'live')),
      ...(await itemsAt(recordKeys.unplacedPartition(orgId, accountId))),
    ])
      if (item.sk !== '_counts') where.set(item.sk as string, item);
    expect(where.size).toBe(legacy.records.length - 1);
    for (const written of legacy.records) {
      if (written.sk === '_counts') continue;
      const mode = modes.get(written.sk as string);
      const moved = where.get(written.sk as string);
      const pk = mode
        ? recordKeys.partition({ orgId, mode, accountId })
        : recordKeys.unplacedPartition(orgId, accountId);
      expect([written.sk, moved?.pk]).toEqual([written.sk, pk]);
      const { pk: _from, ...kept } = written;
      // Moved as written, now saying its mode.
      const { pk: _to, mode: said, ...now } = moved as Record<string, unknown>;
      expect(now).toEqual(kept);
      if (mode) expect(said).toBe(mode);
      expect(Buffer.from(now.data as Uint8Array).equals(Buffer.from(kept.data as Uint8Array))).toBe(true);
    }
    expect(await itemsAt(recordKeys.legacyPartition(orgId, accountId))).toEqual([]);
    // Run again (the next sync does): nothing left to move, one Query.
    await expect(stack.records.migrateLegacyPartition(orgId, accountId, 'live')).resolves.toEqual({
      moved: 0,
      unplaced: [],
      done: true,
    });

    // The live records came from the Stripe account as it was then; a full re-sync of the
    // connection reads it as it is now and marks deleted what it no longer has.
    expect((await syncById(orgId, accountId, 'live', { mode: 'full' })).status).toBe(202);
    await settle(stack, ['webhooks', 'sync']);
    const afterFull = await statusOf(orgId);
    expect(afterFull.connections).toHaveLength(1);
    expect(afterFull.connections[0]).toMatchObject({
      id: idOf(accountId, 'live'),
      status: 'connected',
      account: { id: accountId, name: legacy.account.name, livemode: true },
    });
    await expectConverged(stack, orgId, accountId, { mode: 'live', compareObjects: true });

    // A live webhook reaches it through the link the old code wrote (still as written), into
    // the live partition.
    const oldLink = legacy.service.find((item) => String(item.pk).startsWith('ACCOUNT#')) as Record<
      string,
      unknown
    >;
    expect(
      (
        await db().send(
          new GetCommand({ TableName: LOCAL_TABLES.service, Key: { pk: oldLink.pk, sk: oldLink.sk } }),
        )
      ).Item,
    ).toEqual(oldLink);
    expect(await stack.store.accountLinks(accountId)).toHaveLength(1);
    const { objects } = stack.sandbox.sandbox.createActivity(accountId, 'live', 'charge');
    await settle(stack, ['webhooks']);
    const live = new Set((await partitionItems(orgId, accountId, 'live')).map((item) => item.sk as string));
    for (const id of objects.filter((o) => o.startsWith('ch_'))) expect(live.has(`charges#${id}`)).toBe(true);
    const test = new Set((await partitionItems(orgId, accountId, 'test')).map((item) => item.sk as string));
    for (const id of objects) expect([...test].some((sk) => sk.endsWith(`#${id}`))).toBe(false);
    // Its balance transaction (no event of its own) comes with the next sync, from the checkpoints.
    stack.clock.advance(2_000);
    expect((await syncById(orgId, accountId, 'live')).status).toBe(202);
    await settle(stack, ['sync']);
    await expectConverged(stack, orgId, accountId, { mode: 'live', compareObjects: true });

    // Connecting it again re-authorises that connection in place.
    await connect(orgId, accountId, 'live');
    const after = await stack.store.listConnections(orgId);
    // The same connection (slot, public id), with new tokens under a new secret; the old one is gone.
    expect(after.map((c) => [c.slot, publicConnectionId(c), c.status])).toEqual([
      ['stripe', idOf(accountId, 'live'), 'connected'],
    ]);
    const secrets = (await stack.vault.names()).filter((name) => name.includes(`/${orgId}/`));
    expect(secrets).toEqual([after[0]?.secretName]);
    expect(secrets).not.toContain(written.secretName);
    await expectConverged(stack, orgId, accountId, { mode: 'live', compareObjects: true });
  });
});
