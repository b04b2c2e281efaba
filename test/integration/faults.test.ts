import type { LocalStack } from '../../local/stack.js';
import { VersionConflictError } from '../../shared/ports/connection-store.js';
import { onlyConnection } from '../support/connections.js';
import { Faults } from '../support/faults.js';
import {
  api,
  assertSecretsConsistent,
  BAKERY_ACCOUNT,
  confirmInstall,
  connectOrg,
  decide,
  followCallback,
  settle,
  startConnect,
  startTestStack,
  type TestClock,
  tokenFor,
} from '../support/local-stack.js';
import { expectConverged, waitForSync } from '../support/sync.js';

jest.setTimeout(180_000);

const faults = new Faults();
let stack: LocalStack & { clock: TestClock };
let n = 0;
const newOrg = () => `org_fault_${++n}`;

beforeAll(async () => {
  stack = await startTestStack({ SYNC_BUDGET_TEST: '100' }, { wrap: { adapter: faults.wrap } });
});
afterAll(() => stack.close());
afterEach(() => {
  expect(faults.pending()).toBe(0); // every planned fault happened
  faults.clear();
});

describe('the callback, each step failing', () => {
  it.each([
    ['the state cannot be read (throttled)', 'store', 'consumeState'],
    ['the install cannot be recorded', 'installs', 'put'],
    ['the secret cannot be created', 'vault', 'create'],
  ])('%s: reason=internal, no secret, no connection; trying again works', async (_name, adapter, method) => {
    const org = newOrg();
    const { authorizeUrl } = await startConnect(stack, org);
    const callback = await decide(stack, authorizeUrl, 'install', BAKERY_ACCOUNT);
    faults.fail(adapter, method);
    const landed = await followCallback(callback);
    expect(landed.searchParams.get('reason')).toBe('internal');
    expect(landed.searchParams.get('ref')).toBeTruthy();
    expect(landed.searchParams.has('install')).toBe(false);
    expect((await onlyConnection(stack.store, org))?.status).toBeUndefined();
    await assertSecretsConsistent(stack, [org]);
    expect((await connectOrg(stack, org, { account: BAKERY_ACCOUNT })).outcome).toBe('connected');
    await assertSecretsConsistent(stack, [org]);
    await waitForSync(stack, org);
  });
});

describe('the confirmation, each step failing', () => {
  it.each([
    ['the install cannot be read', 'installs', 'get'],
    ['the account link cannot be written', 'store', 'putAccountLink'],
    ['the connection cannot be written (throttled)', 'store', 'putConnection'],
  ])('%s: 500, not connected; confirming again works', async (_name, adapter, method) => {
    const org = newOrg();
    const { authorizeUrl } = await startConnect(stack, org);
    const landed = await followCallback(await decide(stack, authorizeUrl, 'install', BAKERY_ACCOUNT));
    faults.fail(adapter, method);
    const token = await tokenFor(stack, org);
    const failed = await confirmInstall(stack, landed, token);
    expect(failed.status).toBe(500);
    expect(failed.json).toEqual({ error: { code: 'internal', message: expect.any(String) } });
    expect((await onlyConnection(stack.store, org))?.status).toBeUndefined();
    expect((await confirmInstall(stack, landed, token)).status).toBe(200);
    await assertSecretsConsistent(stack, [org]);
    await waitForSync(stack, org);
  });

  it('a conditional write losing a race is decided again: connected, one secret', async () => {
    const org = newOrg();
    faults.fail('store', 'putConnection', 1, () => new VersionConflictError('simulated race'));
    expect((await connectOrg(stack, org, { account: BAKERY_ACCOUNT })).outcome).toBe('connected');
    expect((await stack.vault.names()).filter((s) => s.includes(`/${org}/`))).toHaveLength(1);
    await assertSecretsConsistent(stack, [org]);
    await waitForSync(stack, org);
  });

  it('the first sync cannot be queued: connected and shown queued, and the sweep queues it minutes later', async () => {
    const org = newOrg();
    faults.fail('syncQueue', 'send');
    expect((await connectOrg(stack, org, { account: BAKERY_ACCOUNT })).outcome).toBe('connected');
    expect((await onlyConnection(stack.store, org))?.sync.state).toBe('queued');
    expect((await stack.sweep()).resumed).toBe(0); // not due yet
    stack.clock.advance(3 * 60_000);
    try {
      expect((await stack.sweep()).resumed).toBe(1);
    } finally {
      stack.clock.advance(-3 * 60_000);
    }
    const done = await waitForSync(stack, org);
    expect(done.sync.lastSuccessAt).not.toBeNull();
    await expectConverged(stack, org, BAKERY_ACCOUNT, { compareObjects: false });
  });

  it('the replaced secret cannot be deleted: noted, and deleted by the next sync — none left behind', async () => {
    const org = newOrg();
    await connectOrg(stack, org, { account: BAKERY_ACCOUNT });
    await waitForSync(stack, org);
    const first = (await onlyConnection(stack.store, org))?.secretName as string;
    faults.fail('vault', 'delete');
    // The same account again: a re-authorisation, which replaces the connection's secret.
    expect((await connectOrg(stack, org, { account: BAKERY_ACCOUNT })).outcome).toBe('connected');
    expect((await stack.store.orphanedSecrets(org)).map((note) => note.secretName)).toEqual([first]);
    await waitForSync(stack, org);
    expect(await stack.vault.read(first)).toBeUndefined();
    expect(await stack.store.orphanedSecrets(org)).toEqual([]);
    await assertSecretsConsistent(stack, [org]);
  });
});

/**
 * The process killed between two steps of the install (nothing after the
 * crash point runs: no cleanup, no retry): once the sweep has run past every
 * due time, nothing is half-done. Either the org is connected, with its link,
 * its secret and a sync that runs, or it has nothing at all; and connecting
 * again works.
 */
describe('a crash between any two steps of the install', () => {
  const later = 20 * 60_000; // past the install's expiry, the retire grace and every due time
  const steps: Array<[string, 'callback' | 'confirm', string, string, boolean]> = [
    ['after the state is consumed', 'callback', 'installs', 'put', false],
    ['after the install is recorded', 'callback', 'installs', 'put', true],
    ['after the secret is created', 'callback', 'vault', 'create', true],
    ['after the claim', 'confirm', 'installs', 'claim', true],
    ['after the account link', 'confirm', 'store', 'putAccountLink', true],
    ['after the replaced secret is noted', 'confirm', 'store', 'noteOrphanedSecret', true],
    ['after the connection is written', 'confirm', 'store', 'putConnection', true],
    ['after the replaced secret is deleted', 'confirm', 'vault', 'delete', true],
    ['after the install record is deleted', 'confirm', 'installs', 'delete', true],
    ['after the first sync is sent', 'confirm', 'syncQueue', 'send', true],
  ];
  it.each(steps)('%s (%s)', async (_name, phase, adapter, method, afterCall) => {
    const org = newOrg();
    // A connection to replace (the same account again), so that every step of a reconnect exists.
    await connectOrg(stack, org, { account: BAKERY_ACCOUNT });
    await waitForSync(stack, org);
    const { authorizeUrl } = await startConnect(stack, org);
    const callback = await decide(stack, authorizeUrl, 'install', BAKERY_ACCOUNT);
    const token = await tokenFor(stack, org);
    if (phase === 'callback') {
      const crashed = faults.crash(adapter, method, { afterCall });
      void fetch(callback, { redirect: 'manual' }).catch(() => undefined);
      await crashed;
    } else {
      const landed = await followCallback(callback);
      const crashed = faults.crash(adapter, method, { afterCall });
      void confirmInstall(stack, landed, token).catch(() => undefined);
      await crashed;
    }
    stack.clock.advance(later);
    try {
      await stack.sweep();
      await waitForSync(stack, org);
      const connection = await onlyConnection(stack.store, org);
      expect(connection?.status).toBe('connected');
      const links = await stack.store.accountLinks(connection?.accountId as string);
      expect(links.some((l) => l.orgId === org && l.connectionId === connection?.connectionId)).toBe(true);
      await assertSecretsConsistent(stack, [org]);
      expect(connection?.sync.lastSuccessAt).not.toBeNull();
    } finally {
      stack.clock.advance(-later);
    }
    expect((await connectOrg(stack, org, { account: BAKERY_ACCOUNT })).outcome).toBe('connected');
    await waitForSync(stack, org);
    await assertSecretsConsistent(stack, [org]);
  });
});

describe('disconnect, the secret delete failing', () => {
  it('answers 500, keeps pointing at the (existing) secret, and finishes on the retry', async () => {
    const org = newOrg();
    await connectOrg(stack, org, { account: BAKERY_ACCOUNT });
    await waitForSync(stack, org);
    const token = await tokenFor(stack, org);
    faults.fail('vault', 'delete');
    expect((await api(stack, 'DELETE', '/v1/integrations/stripe', { token })).status).toBe(500);
    const half = await onlyConnection(stack.store, org);
    expect(half?.status).toBe('disconnected');
    expect(await stack.vault.read(half?.secretName as string)).toBeDefined();
    expect((await api(stack, 'DELETE', '/v1/integrations/stripe', { token })).status).toBe(204);
    expect((await onlyConnection(stack.store, org))?.secretName).toBeNull();
    await assertSecretsConsistent(stack, [org]);
  });
});

describe('webhooks, each step failing once: no event lost', () => {
  it.each([
    ['the queue send (intake answers 500, Stripe retries)', 'webhookQueue', 'send'],
    ['the ledger', 'ledger', 'begin'],
    ['the records write', 'records', 'put'],
    ['the account lookup', 'store', 'accountLinks'],
  ])('%s', async (_name, adapter, method) => {
    const org = newOrg();
    await connectOrg(stack, org, { account: BAKERY_ACCOUNT });
    await waitForSync(stack, org);
    faults.fail(adapter, method);
    const { objects } = stack.sandbox.sandbox.createActivity(BAKERY_ACCOUNT, 'test', 'charge');
    await settle(stack, ['webhooks', 'sync']);
    expect(
      await stack.records.get(
        { orgId: org, mode: 'test', accountId: BAKERY_ACCOUNT },
        'charges',
        objects[0] as string,
      ),
    ).toMatchObject({
      source: expect.any(String),
    });
    if (adapter === 'webhookQueue') {
      const statuses = stack.sandbox.sandbox.deliveries.slice(-10).map((d) => d.status);
      expect(statuses).toContain(500);
    }
  });
});

describe('sync, each step failing once: the retry converges', () => {
  it.each([
    ['the Stripe Sync Completed event (EventBridge put)', 'bus', 'publish'],
    ['a batch write (throttled)', 'records', 'putMany'],
    ['a checkpoint write', 'checkpoints', 'put'],
    ['a status update', 'store', 'updateSync'],
  ])('%s', async (_name, adapter, method) => {
    const org = newOrg();
    faults.fail(adapter, method);
    await connectOrg(stack, org, { account: BAKERY_ACCOUNT });
    const done = await waitForSync(stack, org);
    expect(done.sync.state).toBe('idle');
    expect(done.sync.lastSuccessAt).not.toBeNull();
    await expectConverged(stack, org, BAKERY_ACCOUNT, { compareObjects: false });
    if (adapter === 'bus') {
      expect(
        stack.bus.events.filter((e) => e.detail.orgId === org && e['detail-type'] === 'Stripe Sync Completed')
          .length,
      ).toBeGreaterThanOrEqual(1);
    }
    await assertSecretsConsistent(stack, [org]);
  });
});
