import { randomUUID } from 'node:crypto';
import {
  type Connection,
  type ConnectionRef,
  idleSync,
  type OAuthState,
  slotFor,
} from '../../shared/domain/connection.js';
import { type ConnectionStore, VersionConflictError } from '../../shared/ports/connection-store.js';

/** The slot of the contract's sample connections. */
export const SAMPLE_SLOT = slotFor('test', 'acct_1ContractStore01');
/** The sample connection of an org. */
export const refTo = (orgId: string): ConnectionRef => ({ orgId, slot: SAMPLE_SLOT });

export function sampleConnection(orgId: string, overrides: Partial<Connection> = {}): Connection {
  const now = new Date().toISOString();
  return {
    orgId,
    slot: SAMPLE_SLOT,
    connectionId: `conn_${randomUUID().replace(/-/g, '')}`,
    status: 'connected',
    statusReason: null,
    accountId: 'acct_1ContractStore01',
    livemode: false,
    scope: 'stripe_apps',
    secretName: `contract/${orgId}/secret`,
    connectedAt: now,
    authorizedAt: new Date(Date.parse(now) - 60_000).toISOString(),
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
      await expect(store.getConnection(refTo(orgId))).resolves.toEqual(first);
      await expect(store.putConnection(sampleConnection(orgId), null)).rejects.toBeInstanceOf(
        VersionConflictError,
      );
      const second = sampleConnection(orgId, { version: 2 });
      await expect(store.putConnection(second, 7)).rejects.toBeInstanceOf(VersionConflictError);
      await store.putConnection(second, 1);
      await expect(store.getConnection(refTo(orgId))).resolves.toEqual(second);
      await expect(store.getConnection(refTo(org()))).resolves.toBeUndefined();
    });

    it('keeps one connection per slot, lists them per org, and asks for a full re-sync or an erase only when it may', async () => {
      const orgId = org();
      const live: Connection = sampleConnection(orgId, {
        slot: 'stripe#live#acct_1ContractStore01',
        livemode: true,
      });
      const test = sampleConnection(orgId);
      await store.putConnection(test, null);
      await store.putConnection(live, null);
      await store.putConnection(sampleConnection(org()), null);
      expect((await store.listConnections(orgId)).map((c) => c.slot).sort()).toEqual(
        [live.slot, test.slot].sort(),
      );
      await expect(store.getConnection({ orgId, slot: live.slot })).resolves.toEqual(live);
      expect(await store.listConnections(org())).toEqual([]);

      const full = {
        id: 'full_1',
        resources: ['charges'],
        state: 'pending' as const,
        requestedAt: new Date().toISOString(),
        startedAt: null,
        finishedAt: null,
        swept: [],
        added: 0,
        updated: 0,
        deleted: 0,
      };
      await expect(store.requestFullSync(refTo(orgId), 'conn_other', full)).resolves.toBe(false);
      await expect(store.requestFullSync(refTo(orgId), test.connectionId, full)).resolves.toBe(true);
      await expect(
        store.updateFullSync(refTo(orgId), test.connectionId, 'full_2', { state: 'running' }),
      ).resolves.toBe(false);
      await expect(
        store.updateFullSync(refTo(orgId), test.connectionId, 'full_1', { state: 'running' }),
      ).resolves.toBe(true);
      // A newer request replaces the pass under way; the older one's worker can no longer write it.
      await expect(
        store.requestFullSync(refTo(orgId), test.connectionId, { ...full, id: 'full_2' }),
      ).resolves.toBe(true);
      await expect(
        store.updateFullSync(refTo(orgId), test.connectionId, 'full_1', { state: 'done' }),
      ).resolves.toBe(false);
      expect((await store.getConnection(refTo(orgId)))?.fullSync).toMatchObject({
        id: 'full_2',
        state: 'pending',
      });

      const erasure = {
        state: 'queued' as const,
        requestedAt: new Date().toISOString(),
        finishedAt: null,
        items: 0,
      };
      // Not while connected.
      await expect(store.requestErasure(refTo(orgId), test.connectionId, erasure)).resolves.toBe(false);
      await store.transition(refTo(orgId), {
        connectionId: test.connectionId,
        to: 'disconnected',
        reason: 'user',
        at: new Date().toISOString(),
      });
      const disconnected = (await store.getConnection(refTo(orgId)))?.version as number;
      await expect(store.requestErasure(refTo(orgId), test.connectionId, erasure)).resolves.toBe(true);
      const before = (await store.getConnection(refTo(orgId)))?.version as number;
      // Asking moves the version too: a reconnect that read before looks again, and waits.
      expect(before).toBe(disconnected + 1);
      await expect(
        store.updateErasure(refTo(orgId), test.connectionId, erasure.requestedAt, {
          state: 'running',
          items: 3,
        }),
      ).resolves.toBe(true);
      const after = await store.getConnection(refTo(orgId));
      expect(after?.erasure).toMatchObject({ state: 'running', items: 3 });
      // The version moves: a reconnect that read before looks again.
      expect(after?.version).toBe(before + 1);
      await expect(
        store.updateErasure(refTo(orgId), test.connectionId, 'another time', { state: 'done' }),
      ).resolves.toBe(false);
      // One erase at a time: asked again while this one is not done, nothing is made.
      await expect(
        store.requestErasure(refTo(orgId), test.connectionId, { ...erasure, requestedAt: 'later' }),
      ).resolves.toBe(false);
      // One worker holds it: another's claim fails until the hold lapses; then the first's writes fail.
      const held = (owner: string, claimAt?: number, leaseUntil?: number) =>
        store.updateErasure(
          refTo(orgId),
          test.connectionId,
          erasure.requestedAt,
          leaseUntil === undefined ? { items: 4 } : { leaseUntil },
          claimAt === undefined ? { owner } : { owner, claimAt },
        );
      await expect(held('worker-a', 1_000, 5_000)).resolves.toBe(true);
      await expect(held('worker-b', 2_000, 6_000)).resolves.toBe(false);
      await expect(held('worker-a')).resolves.toBe(true);
      await expect(held('worker-b')).resolves.toBe(false);
      await expect(held('worker-b', 5_001, 9_000)).resolves.toBe(true);
      await expect(held('worker-a')).resolves.toBe(false);
      expect((await store.getConnection(refTo(orgId)))?.erasure).toMatchObject({
        owner: 'worker-b',
        leaseUntil: 9_000,
      });
      await expect(
        store.updateErasure(refTo(orgId), test.connectionId, erasure.requestedAt, { state: 'done' }),
      ).resolves.toBe(true);
      await expect(
        store.requestErasure(refTo(orgId), test.connectionId, { ...erasure, requestedAt: 'later' }),
      ).resolves.toBe(true);
    });

    it('moves the status only for the same connection and an allowed current status', async () => {
      const orgId = org();
      const c = sampleConnection(orgId);
      await store.putConnection(c, null);
      const at = new Date().toISOString();
      await expect(
        store.transition(refTo(orgId), { connectionId: 'conn_other', to: 'revoked', reason: 'x', at }),
      ).resolves.toBeUndefined();
      await expect(
        store.transition(refTo(orgId), {
          connectionId: c.connectionId,
          to: 'revoked',
          reason: 'x',
          at,
          from: ['disconnected'],
        }),
      ).resolves.toBeUndefined();
      const revoked = await store.transition(refTo(orgId), {
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
      await expect(store.getConnection(refTo(orgId))).resolves.toMatchObject({
        status: 'revoked',
        version: 2,
      });
      await expect(
        store.transition(refTo(org()), { connectionId: c.connectionId, to: 'revoked', reason: 'x', at }),
      ).resolves.toBeUndefined();
    });

    it('updates sync fields for the same connection only, and forgets a secret name', async () => {
      const orgId = org();
      const c = sampleConnection(orgId);
      await store.putConnection(c, null);
      await expect(
        store.updateSync(refTo(orgId), c.connectionId, {
          state: 'running',
          progress: { resource: 'charges', records: 5 },
        }),
      ).resolves.toBe(true);
      await expect(store.updateSync(refTo(orgId), 'conn_other', { state: 'failed' })).resolves.toBe(false);
      expect((await store.getConnection(refTo(orgId)))?.sync).toMatchObject({
        state: 'running',
        progress: { resource: 'charges', records: 5 },
        counts: {},
      });
      await store.clearSecretName(refTo(orgId), 'not-its-name');
      expect((await store.getConnection(refTo(orgId)))?.secretName).toBe(c.secretName);
      await store.clearSecretName(refTo(orgId), c.secretName as string);
      expect((await store.getConnection(refTo(orgId)))?.secretName).toBeNull();
    });

    it('grants the refresh lease to one owner until it expires, and only the owner releases it', async () => {
      const orgId = org();
      const c = sampleConnection(orgId);
      await store.putConnection(c, null);
      const now = Date.now();
      const takers = await Promise.all(
        Array.from({ length: 5 }, (_, i) =>
          store.acquireRefreshLease(refTo(orgId), c.connectionId, `owner-${i}`, now, now + 30_000),
        ),
      );
      expect(takers.filter(Boolean)).toHaveLength(1);
      const winner = `owner-${takers.indexOf(true)}`;
      await store.releaseRefreshLease(refTo(orgId), 'someone-else');
      await expect(
        store.acquireRefreshLease(refTo(orgId), c.connectionId, 'late', now + 1, now + 30_000),
      ).resolves.toBe(false);
      await expect(
        store.acquireRefreshLease(refTo(orgId), c.connectionId, 'after-expiry', now + 30_001, now + 60_000),
      ).resolves.toBe(true);
      await store.releaseRefreshLease(refTo(orgId), winner); // no longer the holder: a no-op
      await expect(
        store.acquireRefreshLease(refTo(orgId), c.connectionId, 'x', now + 30_002, now + 60_000),
      ).resolves.toBe(false);
      await store.releaseRefreshLease(refTo(orgId), 'after-expiry');
      await expect(
        store.acquireRefreshLease(refTo(orgId), c.connectionId, 'y', now + 30_003, now + 60_000),
      ).resolves.toBe(true);
      await expect(
        store.acquireRefreshLease(refTo(orgId), 'conn_other', 'z', now + 90_000, now + 99_000),
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
        slot: SAMPLE_SLOT,
        connectionId: 'conn_a',
        livemode: false,
      });
      await store.putAccountLink({
        accountId: account,
        orgId: 'org_b',
        slot: 'stripe#live#x',
        connectionId: 'conn_b',
        livemode: true,
      });
      expect((await store.accountLinks(account)).map((l) => l.orgId).sort()).toEqual(['org_a', 'org_b']);
      await store.deleteAccountLink(account, 'org_a', 'conn_stale');
      expect(await store.accountLinks(account)).toHaveLength(2);
      await store.deleteAccountLink(account, 'org_a', 'conn_a');
      expect(await store.accountLinks(account)).toEqual([
        { accountId: account, orgId: 'org_b', slot: 'stripe#live#x', connectionId: 'conn_b', livemode: true },
      ]);
      await expect(store.deleteAccountLink(account, 'org_a', 'conn_a')).resolves.toBeUndefined();
    });

    it("keeps one link per connection: a new connection's link never replaces, nor is removed with, an old one's", async () => {
      const account = `acct_1Link${randomUUID().slice(0, 8)}`;
      const link = (connectionId: string) => ({
        accountId: account,
        orgId: 'org_a',
        slot: SAMPLE_SLOT,
        connectionId,
        livemode: false,
      });
      await store.putAccountLink(link('conn_1'));
      await store.putAccountLink(link('conn_2'));
      expect((await store.accountLinks(account)).map((l) => l.connectionId).sort()).toEqual([
        'conn_1',
        'conn_2',
      ]);
      // The loser of two racing connects removes what it wrote: the winner's link stays.
      await store.deleteAccountLink(account, 'org_a', 'conn_1');
      expect(await store.accountLinks(account)).toEqual([link('conn_2')]);
    });

    const dueOrgs = async (iterable: AsyncIterable<{ orgId: string }>) => {
      const out: string[] = [];
      for await (const { orgId } of iterable) out.push(orgId);
      return out;
    };

    it('holds the sync lease only while it is renewed, and only its owner renews it', async () => {
      const orgId = org();
      const c = sampleConnection(orgId);
      await store.putConnection(c, null);
      const now = Date.now();
      const lease = await store.acquireSyncLease(refTo(orgId), c.connectionId, 'w1', now, now + 1000);
      expect(lease.ok).toBe(true);
      await expect(store.renewSyncLease(refTo(orgId), 'w2', now + 5000)).resolves.toBe(false);
      await expect(store.renewSyncLease(refTo(orgId), 'w1', now + 5000)).resolves.toBe(true);
      expect((await store.getConnection(refTo(orgId)))?.syncLeaseUntil).toBe(now + 5000);
      // Not taken over while renewed…
      await expect(
        store.acquireSyncLease(refTo(orgId), c.connectionId, 'w2', now + 2000, now + 9000),
      ).resolves.toEqual({
        ok: false,
        reason: 'held',
      });
      // …taken over once it ran out, and the old owner can no longer renew it.
      expect(
        (await store.acquireSyncLease(refTo(orgId), c.connectionId, 'w2', now + 6000, now + 9000)).ok,
      ).toBe(true);
      await expect(store.renewSyncLease(refTo(orgId), 'w1', now + 20_000)).resolves.toBe(false);
    });

    it('counts the leases taken, says when one was left behind, and carries a webhook’s “sync again” to the release', async () => {
      const orgId = org();
      const c = sampleConnection(orgId);
      await store.putConnection(c, null);
      const now = Date.now();
      // Nobody holds the lease: a webhook writes its change itself.
      await expect(store.requestSyncAgain(refTo(orgId), c.connectionId, now)).resolves.toBe(false);
      const first = await store.acquireSyncLease(refTo(orgId), c.connectionId, 'w1', now, now + 1000);
      expect(first).toMatchObject({ ok: true, abandoned: false, connection: { syncLeaseEpoch: 1 } });
      expect((await store.getConnection(refTo(orgId)))?.syncLeaseEpoch).toBe(1);
      await expect(store.requestSyncAgain(refTo(orgId), 'conn_other', now)).resolves.toBe(false);
      await expect(store.requestSyncAgain(refTo(orgId), c.connectionId, now)).resolves.toBe(true);
      await expect(store.releaseSyncLease(refTo(orgId), 'w1', { state: 'idle' })).resolves.toEqual({
        released: true,
        syncAgain: true,
      });
      // Asked once, answered once.
      const second = await store.acquireSyncLease(refTo(orgId), c.connectionId, 'w2', now, now + 1000);
      expect(second).toMatchObject({ ok: true, abandoned: false, connection: { syncLeaseEpoch: 2 } });
      // w2 dies holding the lease; once it runs out, w3 takes it, told that it was abandoned.
      await expect(store.requestSyncAgain(refTo(orgId), c.connectionId, now + 2000)).resolves.toBe(false);
      const third = await store.acquireSyncLease(refTo(orgId), c.connectionId, 'w3', now + 2000, now + 3000);
      expect(third).toMatchObject({ ok: true, abandoned: true, connection: { syncLeaseEpoch: 3 } });
      await expect(store.releaseSyncLease(refTo(orgId), 'w2', { state: 'idle' })).resolves.toEqual({
        released: false,
        syncAgain: false,
      });
      await expect(store.holdsSyncLease(refTo(orgId), c.connectionId, 'w3', now + 2500)).resolves.toBe(true);
      // About to lapse (renewals have stopped): no longer a lease to write under.
      await expect(store.holdsSyncLease(refTo(orgId), c.connectionId, 'w3', now + 3500)).resolves.toBe(false);
      await expect(store.holdsSyncLease(refTo(orgId), c.connectionId, 'w2', now + 2500)).resolves.toBe(false);
      await expect(store.holdsSyncLease(refTo(orgId), 'conn_other', 'w3', now + 2500)).resolves.toBe(false);
      await expect(store.releaseSyncLease(refTo(orgId), 'w3', { state: 'idle' })).resolves.toEqual({
        released: true,
        syncAgain: false,
      });
      await expect(store.holdsSyncLease(refTo(orgId), c.connectionId, 'w3', now)).resolves.toBe(false);
    });

    it('keeps a doubt about the counts until the run that resolved that doubt clears it', async () => {
      const orgId = org();
      const c = sampleConnection(orgId);
      await store.putConnection(c, null);
      await store.noteCountsInDoubt(refTo(orgId), c.connectionId);
      const token = (await store.getConnection(refTo(orgId)))?.countsInDoubt;
      expect(typeof token).toBe('string');
      await store.noteCountsInDoubt(refTo(orgId), c.connectionId); // a newer doubt, while the run counts
      await store.clearCountsInDoubt(refTo(orgId), token as string);
      const newer = (await store.getConnection(refTo(orgId)))?.countsInDoubt;
      expect(newer).toEqual(expect.any(String));
      expect(newer).not.toBe(token);
      await store.clearCountsInDoubt(refTo(orgId), newer as string);
      expect((await store.getConnection(refTo(orgId)))?.countsInDoubt).toBeUndefined();
      // A failed run can leave one too.
      const now = Date.now();
      await store.acquireSyncLease(refTo(orgId), c.connectionId, 'w', now, now + 1000);
      await store.releaseSyncLease(refTo(orgId), 'w', { state: 'failed' }, undefined, {
        countsInDoubt: true,
      });
      expect((await store.getConnection(refTo(orgId)))?.countsInDoubt).toEqual(expect.any(String));
    });

    it('notes an uninstall in doubt only on a connected connection, and clears only the note it read', async () => {
      const orgId = org();
      const c = sampleConnection(orgId);
      await store.putConnection(c, null);
      const first = '2026-12-01T10:00:00.000Z';
      const second = '2026-12-01T10:00:30.000Z';
      await expect(store.noteUninstallInDoubt(refTo(orgId), 'conn_other', first)).resolves.toBe(false);
      await expect(store.noteUninstallInDoubt(refTo(orgId), c.connectionId, first)).resolves.toBe(true);
      expect((await store.getConnection(refTo(orgId)))?.uninstallInDoubt).toBe(first);
      // A newer note while a run was under way: that run's clear leaves it.
      await expect(store.noteUninstallInDoubt(refTo(orgId), c.connectionId, second)).resolves.toBe(true);
      await store.clearUninstallInDoubt(refTo(orgId), c.connectionId, first);
      expect((await store.getConnection(refTo(orgId)))?.uninstallInDoubt).toBe(second);
      await store.clearUninstallInDoubt(refTo(orgId), 'conn_other', second);
      expect((await store.getConnection(refTo(orgId)))?.uninstallInDoubt).toBe(second);
      await store.clearUninstallInDoubt(refTo(orgId), c.connectionId, second);
      expect((await store.getConnection(refTo(orgId)))?.uninstallInDoubt).toBeUndefined();
      // Once the token proved dead (needs_reauth), no note: the uninstall revokes it at once.
      await store.transition(refTo(orgId), {
        connectionId: c.connectionId,
        to: 'needs_reauth',
        reason: 'invalid_grant',
        at: second,
        from: ['connected'],
      });
      await expect(store.noteUninstallInDoubt(refTo(orgId), c.connectionId, second)).resolves.toBe(false);
      expect((await store.getConnection(refTo(orgId)))?.uninstallInDoubt).toBeUndefined();
    });

    it('finds syncs once they are due, and hands a stalled one out once: queued never run, or running with its lease run out', async () => {
      const queuedOrg = org();
      const runningOrg = org();
      const base = Date.now();
      const at = (ms: number) => new Date(base + ms).toISOString();
      for (const orgId of [queuedOrg, runningOrg]) await store.putConnection(sampleConnection(orgId), null);
      const queued = (await store.getConnection(refTo(queuedOrg))) as Connection;
      const running = (await store.getConnection(refTo(runningOrg))) as Connection;
      expect(
        await store.markSyncQueued(refTo(queuedOrg), queued.connectionId, at(0), at(0), at(60_000)),
      ).toBe(true);
      expect(
        (await store.acquireSyncLease(refTo(runningOrg), running.connectionId, 'w', base, base + 30_000)).ok,
      ).toBe(true);
      const mine = (orgs: string[]) => orgs.filter((o) => o === queuedOrg || o === runningOrg).sort();
      expect(mine(await dueOrgs(store.dueSyncs(at(10_000))))).toEqual([]);
      expect(mine(await dueOrgs(store.dueSyncs(at(61_000))))).toEqual([queuedOrg, runningOrg].sort());
      // Not stalled yet: refused.
      await expect(store.requeueStalled(refTo(runningOrg), at(10_000), at(200_000))).resolves.toBeUndefined();
      // Stalled: taken once (concurrent sweeps), queued again and due later.
      const taken = await Promise.all([
        store.requeueStalled(refTo(runningOrg), at(61_000), at(200_000)),
        store.requeueStalled(refTo(runningOrg), at(61_000), at(200_000)),
      ]);
      expect(taken.filter(Boolean)).toHaveLength(1);
      expect(taken.find(Boolean)?.sync.state).toBe('queued');
      // The run it took over may have stored a page without counting it.
      expect(taken.find(Boolean)?.countsInDoubt).toEqual(expect.any(String));
      expect(mine(await dueOrgs(store.dueSyncs(at(61_000))))).toEqual([queuedOrg]);
      // A run that ends takes its connection off the index.
      expect(
        (
          await store.acquireSyncLease(
            refTo(queuedOrg),
            queued.connectionId,
            'w2',
            base + 62_000,
            base + 90_000,
          )
        ).ok,
      ).toBe(true);
      await store.releaseSyncLease(refTo(queuedOrg), 'w2', { state: 'idle' });
      expect(mine(await dueOrgs(store.dueSyncs(at(1_000_000))))).toEqual([runningOrg]);
    });

    it('accepts one manual sync per interval, whatever else happens, and gives one back', async () => {
      const orgId = org();
      const c = sampleConnection(orgId);
      await store.putConnection(c, null);
      const now = Date.now();
      await expect(store.takeManualSync(refTo(orgId), c.connectionId, now, 60_000)).resolves.toEqual({
        ok: true,
      });
      await store.updateSync(refTo(orgId), c.connectionId, { state: 'idle', queuedAt: null });
      const refused = await store.takeManualSync(refTo(orgId), c.connectionId, now + 1000, 60_000);
      expect(refused).toEqual({ ok: false, retryAfterMs: 59_000 });
      await store.returnManualSync(refTo(orgId), c.connectionId, now);
      await expect(store.takeManualSync(refTo(orgId), c.connectionId, now + 1000, 60_000)).resolves.toEqual({
        ok: true,
      });
      await expect(
        store.takeManualSync(refTo(orgId), 'conn_other', now + 100_000, 60_000),
      ).resolves.toMatchObject({
        ok: false,
      });
    });

    it('notes secrets to delete with when they fall due, and finds the orgs that have some due', async () => {
      const orgId = org();
      const base = Date.now();
      await store.noteOrphanedSecret(orgId, 'p/a', new Date(base).toISOString());
      await store.noteOrphanedSecret(orgId, 'p/b', new Date(base + 600_000).toISOString());
      expect((await store.orphanedSecrets(orgId)).map((n) => n.secretName).sort()).toEqual(['p/a', 'p/b']);
      const due = await dueOrgs(store.dueOrphans(new Date(base + 1000).toISOString()));
      expect(due.filter((o) => o === orgId)).toEqual([orgId]);
      await store.forgetOrphanedSecret(orgId, 'p/a');
      expect(
        (await dueOrgs(store.dueOrphans(new Date(base + 1000).toISOString()))).filter((o) => o === orgId),
      ).toEqual([]);
    });
  });
}
