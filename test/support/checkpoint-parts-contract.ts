import type { Checkpoint, CheckpointStore } from '../../shared/sync/checkpoint.js';

/**
 * What a `CheckpointStore` must do with the parts of a shared-out backfill (DynamoDB's, on
 * dynalite and on moto): claims that exclude one another, renewals and saves only by the
 * holder, fences that stop a holder and are lifted by the next run.
 */
export function checkpointPartsContract(name: string, make: () => CheckpointStore) {
  let n = 0;
  const plan = () => `p${Date.now().toString(36)}${++n}`;
  const ref = { orgId: 'org_parts_contract', slot: 'stripe#live#acct_1PartsContract0000000' };
  const part = (p: string, index: number): Checkpoint => ({
    ...ref,
    resource: 'balance_transactions',
    connectionId: 'conn_parts',
    phase: 'backfill',
    snapshotAt: 1_800_000_000,
    slices: [{ gte: 1_700_000_000 + index * 1000, lt: 1_700_001_000 + index * 1000, done: false }],
    cursor: null,
    since: 1_800_000_000,
    total: 0,
    updatedAt: '2026-12-07T00:00:00.000Z',
    part: { plan: p, index },
  });

  describe(name, () => {
    it('lets one worker at a time claim a part, and another once its claim ran out (taken over)', async () => {
      const store = make();
      const p = plan();
      await store.putParts([part(p, 0), part(p, 1)]);
      const now = 1_000_000;
      const claims = await Promise.all(
        ['a', 'b', 'c'].map((by) => store.claimPart(ref, 'balance_transactions', p, by, now, now + 60_000)),
      );
      const got = claims.filter((c): c is Checkpoint => c !== undefined);
      expect(got).toHaveLength(2);
      expect(new Set(got.map((c) => c.part?.index))).toEqual(new Set([0, 1]));
      expect(got.every((c) => c.retaken === false)).toBe(true);
      // Nothing left while the claims hold; after they run out, a part is taken over.
      await expect(
        store.claimPart(ref, 'balance_transactions', p, 'd', now + 1, now + 60_000),
      ).resolves.toBeUndefined();
      const later = await store.claimPart(ref, 'balance_transactions', p, 'd', now + 60_001, now + 120_000);
      expect(later).toMatchObject({ claim: { by: 'd' }, retaken: true });
    });

    it('renews and saves only for the holder, and a save never moves the claim', async () => {
      const store = make();
      const p = plan();
      await store.putParts([part(p, 0)]);
      const claimed = (await store.claimPart(ref, 'balance_transactions', p, 'a', 0, 60_000)) as Checkpoint;
      await expect(store.renewPart(claimed, 'b', 10_000, 90_000)).resolves.toBe(false);
      await expect(store.renewPart(claimed, 'a', 70_000, 90_000)).resolves.toBe(false); // not held that long
      await expect(store.renewPart(claimed, 'a', 30_000, 90_000)).resolves.toBe(true);
      const progressed: Checkpoint = {
        ...claimed,
        claim: { by: 'a', until: 999_999 },
        total: 200,
        slices: [{ ...(claimed.slices[0] as Checkpoint['slices'][0]), startingAfter: 'txn_1' }],
      };
      await expect(store.savePart(progressed, 'b')).resolves.toBe(false);
      await expect(store.savePart(progressed, 'a')).resolves.toBe(true);
      const [saved] = await store.parts(ref, 'balance_transactions', p);
      expect(saved).toMatchObject({ total: 200, claim: { by: 'a', until: 90_000 } });
      expect(saved?.slices[0]?.startingAfter).toBe('txn_1');
      // Released: no claim, and another may claim it at once, not as taken over.
      const { claim: _claim, ...released } = progressed;
      await expect(store.savePart(released, 'a')).resolves.toBe(true);
      await expect(store.claimPart(ref, 'balance_transactions', p, 'b', 1, 60_000)).resolves.toMatchObject({
        retaken: false,
        total: 200,
      });
    });

    it('fences a holder out and a free part off until the next run lifts the fences', async () => {
      const store = make();
      const p = plan();
      await store.putParts([part(p, 0), part(p, 1), part(p, 2)]);
      const held = (await store.claimPart(ref, 'balance_transactions', p, 'a', 0, 60_000)) as Checkpoint;
      const [first, second, third] = await store.parts(ref, 'balance_transactions', p);
      const free = [first, second, third].filter((x) => x?.part?.index !== held.part?.index) as Checkpoint[];
      await expect(store.fencePart({ ...held }, 10, 500_000)).resolves.toBe('stopped');
      await expect(store.fencePart(free[0] as Checkpoint, 10, 500_000)).resolves.toBe('fenced');
      // A claim read before it changed is not fenced over.
      await expect(store.fencePart(held, 10, 500_000)).resolves.toBe(false);
      // The holder can renew, save and claim nothing meanwhile.
      await expect(store.renewPart(held, 'a', 20, 90_000)).resolves.toBe(false);
      await expect(store.savePart(held, 'a')).resolves.toBe(false);
      const other = await store.claimPart(ref, 'balance_transactions', p, 'b', 20, 60_000);
      expect(other?.part?.index).toBe(free[1]?.part?.index);
      // The next run lifts both fences: the held one's part is taken over, the free one's not.
      await expect(store.liftFences(ref, 'balance_transactions', p)).resolves.toBe(2);
      const after = await store.parts(ref, 'balance_transactions', p);
      const byIndex = new Map(after.map((x) => [x.part?.index, x]));
      expect(byIndex.get(held.part?.index)).toMatchObject({ retaken: true });
      expect(byIndex.get(held.part?.index)?.claim).toBeUndefined();
      expect(byIndex.get(free[0]?.part?.index)?.claim).toBeUndefined();
      expect(byIndex.get(free[0]?.part?.index)?.retaken).not.toBe(true);
      // Parts are not checkpoints of their own resource, and go with their plan.
      expect((await store.all(ref)).get('balance_transactions')).toBeUndefined();
      await store.deleteParts(ref, 'balance_transactions', p);
      await expect(store.parts(ref, 'balance_transactions', p)).resolves.toEqual([]);
    });
  });
}
