import { randomUUID } from 'node:crypto';
import { type Connection, idleSync, type OAuthState } from '../../shared/domain/connection.js';
import { type ConnectionStore, VersionConflictError } from '../../shared/ports/connection-store.js';

export function sampleConnection(orgId: string, overrides: Partial<Connection> = {}): Connection {
  const now = new Date().toISOString();
  return {
    orgId,
    connectionId: `conn_${randomUUID().replace(/-/g, '')}`,
    status: 'connected',
    statusReason: null,
    accountId: 'acct_1ContractStore01',
    livemode: false,
    scope: 'stripe_apps',
    secretName: `contract/${orgId}/secret`,
    connectedAt: now,
    connectedBy: 'user_1',
    updatedAt: now,
    version: 1,
    sync: idleSync(),
    ...overrides,
  };
}

/** The behaviour every ConnectionStore must have: DynamoDB on dynalite and on moto. */
export function connectionStoreContract(
  name: string,
  makeStore: () => ConnectionStore | Promise<ConnectionStore>,
) {
  describe(`${name} (ConnectionStore contract)`, () => {
    let store: ConnectionStore;
    const org = () => `org_c_${randomUUID().slice(0, 8)}`;
    beforeEach(async () => {
      store = await makeStore();
    });

    const state = (overrides: Partial<OAuthState> = {}): OAuthState => ({
      stateHash: randomUUID().replace(/-/g, ''),
      orgId: 'org_s',
      userId: 'user_s',
      mode: 'test',
      returnTo: 'https://app.example/x',
      expiresAt: new Date(Date.now() + 600_000).toISOString(),
      ...overrides,
    });

    it('consumes an OAuth state once; concurrent consumers get it exactly once', async () => {
      const s = state();
      await store.putState(s);
      const results = await Promise.all(Array.from({ length: 5 }, () => store.consumeState(s.stateHash)));
      expect(results.filter(Boolean)).toEqual([s]);
      await expect(store.consumeState(s.stateHash)).resolves.toBeUndefined();
      await expect(store.consumeState('never-stored')).resolves.toBeUndefined();
    });

    it('refuses to overwrite a state with the same hash', async () => {
      const s = state();
      await store.putState(s);
      await expect(store.putState({ ...s, orgId: 'org_other' })).rejects.toThrow();
      await expect(store.consumeState(s.stateHash)).resolves.toMatchObject({ orgId: 'org_s' });
    });

    it('stores a connection only over the version it expects', async () => {
      const orgId = org();
      const first = sampleConnection(orgId);
      await store.putConnection(first, null);
      await expect(store.getConnection(orgId)).resolves.toEqual(first);
      await expect(store.putConnection(sampleConnection(orgId), null)).rejects.toBeInstanceOf(
        VersionConflictError,
      );
      const second = sampleConnection(orgId, { version: 2 });
      await expect(store.putConnection(second, 7)).rejects.toBeInstanceOf(VersionConflictError);
      await store.putConnection(second, 1);
      await expect(store.getConnection(orgId)).resolves.toEqual(second);
      await expect(store.getConnection(org())).resolves.toBeUndefined();
    });

    it('moves the status only for the same connection and an allowed current status', async () => {
      const orgId = org();
      const c = sampleConnection(orgId);
      await store.putConnection(c, null);
      const at = new Date().toISOString();
      await expect(
        store.transition(orgId, { connectionId: 'conn_other', to: 'revoked', reason: 'x', at }),
      ).resolves.toBeUndefined();
      await expect(
        store.transition(orgId, {
          connectionId: c.connectionId,
          to: 'revoked',
          reason: 'x',
          at,
          from: ['disconnected'],
        }),
      ).resolves.toBeUndefined();
      const revoked = await store.transition(orgId, {
        connectionId: c.connectionId,
        to: 'revoked',
        reason: 'deauthorized',
        at,
        from: ['connected', 'needs_reauth'],
      });
      expect(revoked).toMatchObject({
        status: 'revoked',
        statusReason: 'deauthorized',
        version: 2,
        updatedAt: at,
      });
      await expect(store.getConnection(orgId)).resolves.toMatchObject({ status: 'revoked', version: 2 });
      await expect(
        store.transition(org(), { connectionId: c.connectionId, to: 'revoked', reason: 'x', at }),
      ).resolves.toBeUndefined();
    });

    it('updates sync fields for the same connection only, and forgets a secret name', async () => {
      const orgId = org();
      const c = sampleConnection(orgId);
      await store.putConnection(c, null);
      await expect(
        store.updateSync(orgId, c.connectionId, {
          state: 'running',
          progress: { resource: 'charges', records: 5 },
        }),
      ).resolves.toBe(true);
      await expect(store.updateSync(orgId, 'conn_other', { state: 'failed' })).resolves.toBe(false);
      expect((await store.getConnection(orgId))?.sync).toMatchObject({
        state: 'running',
        progress: { resource: 'charges', records: 5 },
        counts: {},
      });
      await store.clearSecretName(orgId, 'not-its-name');
      expect((await store.getConnection(orgId))?.secretName).toBe(c.secretName);
      await store.clearSecretName(orgId, c.secretName as string);
      expect((await store.getConnection(orgId))?.secretName).toBeNull();
    });

    it('grants the refresh lease to one owner until it expires, and only the owner releases it', async () => {
      const orgId = org();
      const c = sampleConnection(orgId);
      await store.putConnection(c, null);
      const now = Date.now();
      const takers = await Promise.all(
        Array.from({ length: 5 }, (_, i) =>
          store.acquireRefreshLease(orgId, c.connectionId, `owner-${i}`, now, now + 30_000),
        ),
      );
      expect(takers.filter(Boolean)).toHaveLength(1);
      const winner = `owner-${takers.indexOf(true)}`;
      await store.releaseRefreshLease(orgId, 'someone-else');
      await expect(
        store.acquireRefreshLease(orgId, c.connectionId, 'late', now + 1, now + 30_000),
      ).resolves.toBe(false);
      await expect(
        store.acquireRefreshLease(orgId, c.connectionId, 'after-expiry', now + 30_001, now + 60_000),
      ).resolves.toBe(true);
      await store.releaseRefreshLease(orgId, winner); // no longer the holder: a no-op
      await expect(
        store.acquireRefreshLease(orgId, c.connectionId, 'x', now + 30_002, now + 60_000),
      ).resolves.toBe(false);
      await store.releaseRefreshLease(orgId, 'after-expiry');
      await expect(
        store.acquireRefreshLease(orgId, c.connectionId, 'y', now + 30_003, now + 60_000),
      ).resolves.toBe(true);
      await expect(
        store.acquireRefreshLease(orgId, 'conn_other', 'z', now + 90_000, now + 99_000),
      ).resolves.toBe(false);
    });

    it('counts a per-org allowance per window, separately per org and per window', async () => {
      const orgId = org();
      const now = Date.UTC(2026, 10, 1, 10, 0, 0);
      const takes = await Promise.all(
        Array.from({ length: 5 }, () => store.takeAllowance(orgId, 'connect', 3, 600, now)),
      );
      expect(takes.filter(Boolean)).toHaveLength(3);
      await expect(store.takeAllowance(org(), 'connect', 3, 600, now)).resolves.toBe(true);
      await expect(store.takeAllowance(orgId, 'connect', 3, 600, now + 600_000)).resolves.toBe(true);
    });

    it('keeps account links per org, and deletes one only for its connection', async () => {
      const account = `acct_1Link${randomUUID().slice(0, 8)}`;
      await store.putAccountLink({
        accountId: account,
        orgId: 'org_a',
        connectionId: 'conn_a',
        livemode: false,
      });
      await store.putAccountLink({
        accountId: account,
        orgId: 'org_b',
        connectionId: 'conn_b',
        livemode: true,
      });
      expect((await store.accountLinks(account)).map((l) => l.orgId).sort()).toEqual(['org_a', 'org_b']);
      await store.deleteAccountLink(account, 'org_a', 'conn_stale');
      expect(await store.accountLinks(account)).toHaveLength(2);
      await store.deleteAccountLink(account, 'org_a', 'conn_a');
      expect(await store.accountLinks(account)).toEqual([
        { accountId: account, orgId: 'org_b', connectionId: 'conn_b', livemode: true },
      ]);
      await expect(store.deleteAccountLink(account, 'org_a', 'conn_a')).resolves.toBeUndefined();
    });
  });
}
