import { randomBytes, randomUUID } from 'node:crypto';
import type { EventLedger } from '../../shared/ports/event-ledger.js';
import {
  FeedCursorErasedError,
  type RecordsStore,
  type RecordWrite,
} from '../../shared/ports/records-store.js';
import { recordVersion, resourceByName, type StripeObject } from '../../shared/records/registry.js';

const charges = resourceByName('charges');

function write(
  orgId: string,
  object: StripeObject,
  observedAt: number,
  source: 'sync' | 'webhook' = 'sync',
): RecordWrite {
  if (!charges) throw new Error('no charges resource');
  return {
    orgId,
    mode: 'test',
    accountId: 'acct_1RecordsContract01',
    resource: 'charges',
    object,
    version: recordVersion(charges, object, { at: observedAt, by: 'read' }),
    source,
  };
}

/** The records store's behaviour: the version guard for single and batch writes. */
export function recordsStoreContract(name: string, makeStore: () => RecordsStore | Promise<RecordsStore>) {
  describe(`${name} (RecordsStore contract)`, () => {
    let store: RecordsStore;
    beforeEach(async () => {
      store = await makeStore();
    });
    const org = () => `org_r_${randomUUID().slice(0, 8)}`;
    const charge = (id: string, amount: number) => ({
      id,
      object: 'charge',
      created: 1_790_000_000,
      amount,
      currency: 'usd',
      livemode: false,
    });

    it('writes, then keeps the newer version: older is stale, equal is a no-op', async () => {
      const orgId = org();
      await expect(store.put(write(orgId, charge('ch_1', 100), 1000))).resolves.toEqual({
        outcome: 'written',
        delta: 1,
      });
      await expect(
        store.put({ ...write(orgId, charge('ch_1', 200), 2000, 'webhook'), eventId: 'evt_contract_1' }),
      ).resolves.toEqual({ outcome: 'written', delta: 0 });
      await expect(store.put(write(orgId, charge('ch_1', 150), 1500))).resolves.toMatchObject({
        outcome: 'stale',
        delta: 0,
      });
      // What is stored instead, and which event brought it (a retried event can tell its own write).
      const equal = await store.put(write(orgId, charge('ch_1', 999), 2000));
      expect(equal).toEqual({
        outcome: 'stale',
        delta: 0,
        stored: { version: write(orgId, charge('ch_1', 1), 2000).version, eventId: 'evt_contract_1' },
      });
      const stored = await store.get(
        { orgId: orgId, mode: 'test', accountId: 'acct_1RecordsContract01' },
        'charges',
        'ch_1',
      );
      expect(stored).toMatchObject({ source: 'webhook', deleted: false, object: { amount: 200 } });
      // Deleted in Stripe: it no longer counts.
      await expect(
        store.put({ ...write(orgId, charge('ch_1', 200), 3000, 'webhook'), deleted: true }),
      ).resolves.toEqual({ outcome: 'written', delta: -1 });
    });

    it('keeps counts per partition: added to as writes change them, and counted afresh on demand', async () => {
      const orgId = org();
      const account = 'acct_1RecordsContract01';
      await expect(store.counts({ orgId: orgId, mode: 'test', accountId: account })).resolves.toBeUndefined();
      const first = await store.putMany(
        Array.from({ length: 30 }, (_, i) => write(orgId, charge(`ch_c${i}`, i), 1000)),
      );
      expect(first.deltas).toEqual({ charges: 30 });
      await store.addCounts({ orgId: orgId, mode: 'test', accountId: account }, first.deltas);
      // Ten of them again (newer, changed), five of those now deleted, and five new ones.
      const second = await store.putMany([
        ...Array.from({ length: 10 }, (_, i) => ({
          ...write(orgId, charge(`ch_c${i}`, i + 100), 2000),
          ...(i < 5 ? { deleted: true } : {}),
        })),
        ...Array.from({ length: 5 }, (_, i) => write(orgId, charge(`ch_n${i}`, i), 2000)),
      ]);
      expect(second).toMatchObject({ written: 15, created: 5, deltas: { charges: 0 } });
      // Read again newer and exactly as stored: no change, so nothing written or counted.
      const same = await store.putMany(
        Array.from({ length: 5 }, (_, i) => write(orgId, charge(`ch_c${i + 20}`, i + 20), 3000)),
      );
      expect(same).toMatchObject({ written: 0, created: 0, deltas: {} });
      await store.addCounts({ orgId: orgId, mode: 'test', accountId: account }, second.deltas);
      await store.addCounts({ orgId: orgId, mode: 'test', accountId: account }, { refunds: 2, charges: 0 });
      expect((await store.counts({ orgId: orgId, mode: 'test', accountId: account }))?.charges).toBe(30);
      expect((await store.counts({ orgId: orgId, mode: 'test', accountId: account }))?.refunds).toBe(2);
      // A count gone wrong (a write that died before its count) is put right by counting again.
      await store.addCounts({ orgId: orgId, mode: 'test', accountId: account }, { charges: 7 });
      await expect(
        store.recount({ orgId: orgId, mode: 'test', accountId: account }, 'charges'),
      ).resolves.toBe(30);
      await expect(
        store.recount({ orgId: orgId, mode: 'test', accountId: account }, 'refunds'),
      ).resolves.toBe(0);
      expect(await store.counts({ orgId: orgId, mode: 'test', accountId: account })).toMatchObject({
        charges: 30,
        refunds: 0,
        invoices: 0,
      });
      await expect(store.counts({ orgId: org(), mode: 'test', accountId: account })).resolves.toBeUndefined();
    });

    it('writes many in batches of 25, skipping what is stored newer, keeping the newest duplicate', async () => {
      const orgId = org();
      await store.put(write(orgId, charge('ch_b7', 7), 5000, 'webhook'));
      const batch = Array.from({ length: 60 }, (_, i) => write(orgId, charge(`ch_b${i}`, i), 3000));
      batch.push(write(orgId, charge('ch_b1', 1111), 4000));
      const result = await store.putMany(batch);
      expect(result).toMatchObject({ written: 59, stale: 2 });
      expect(result.batchCalls).toBeGreaterThanOrEqual(3);
      const versions = await store.versions(
        { orgId: orgId, mode: 'test', accountId: 'acct_1RecordsContract01' },
        'charges',
      );
      expect(versions.size).toBe(60);
      expect(
        (
          await store.get(
            { orgId: orgId, mode: 'test', accountId: 'acct_1RecordsContract01' },
            'charges',
            'ch_b7',
          )
        )?.object.amount,
      ).toBe(7);
      expect(
        (
          await store.get(
            { orgId: orgId, mode: 'test', accountId: 'acct_1RecordsContract01' },
            'charges',
            'ch_b1',
          )
        )?.object.amount,
      ).toBe(1111);
    });

    it('a full re-sync marks deleted only what its pass did not see and nobody wrote since; resumable', async () => {
      const orgId = org();
      const scope = { orgId, mode: 'test' as const, accountId: 'acct_1RecordsContract01' };
      const ids = Array.from({ length: 7 }, (_, i) => `ch_full_${i}`);
      for (const id of ids)
        if (id !== 'ch_full_4') await store.put(write(orgId, charge(id, 1), 1_790_000_100));
      await new Promise((resolve) => setTimeout(resolve, 5));
      const since = new Date().toISOString();
      await new Promise((resolve) => setTimeout(resolve, 5));
      await store.put(write(orgId, charge('ch_full_4', 1), 1_790_000_150));
      await store.addCounts(scope, { charges: ids.length });
      // The pass saw 0–3; 4 was written (by a webhook, say) after it began: only 5 and 6 go.
      // (One id twice, as two events of one object in a page: noted once.)
      await store.noteSeen(scope, 'pass_1', 'charges', [...ids.slice(0, 4), ids[0] as string]);
      const version = (object: StripeObject) =>
        recordVersion(charges as NonNullable<typeof charges>, object, { at: 1_790_000_200, by: 'event' });
      const first = await store.markUnseenDeleted(scope, 'pass_1', 'charges', since, version, {
        shouldStop: () => false,
      });
      const rest = await store.markUnseenDeleted(scope, 'pass_1', 'charges', since, version, {
        after: first.after,
      });
      expect(rest.done).toBe(true);
      expect(first.deleted + rest.deleted).toBe(2);
      for (const [i, id] of ids.entries())
        expect([id, (await store.get(scope, 'charges', id))?.deleted]).toEqual([id, i >= 5]);
      expect((await store.counts(scope))?.charges).toBe(5);
      // Again: nothing more (each is marked once).
      expect((await store.markUnseenDeleted(scope, 'pass_1', 'charges', since, version)).deleted).toBe(0);
      // The seen items are not records: not served, not counted.
      expect([...(await store.versions(scope, 'charges')).keys()].sort()).toEqual([...ids].sort());
    });

    it('erases a partition written before a time, and nothing written after; resumable', async () => {
      const orgId = org();
      const scope = { orgId, mode: 'test' as const, accountId: 'acct_1RecordsContract01' };
      const other = { ...scope, accountId: 'acct_1RecordsContract02' };
      for (let i = 0; i < 5; i++) await store.put(write(orgId, charge(`ch_old_${i}`, 1), 1_790_000_100));
      await store.put({ ...write(orgId, charge('ch_other', 1), 1_790_000_100), ...other });
      await store.addCounts(scope, { charges: 5 });
      await new Promise((resolve) => setTimeout(resolve, 5));
      const before = new Date().toISOString();
      await new Promise((resolve) => setTimeout(resolve, 5));
      await store.put(write(orgId, charge('ch_new', 1), 1_790_000_300));
      // Told to stop before its first page (the connection changed, say): nothing goes.
      const first = await store.eraseBefore(scope, before, { beforePage: async () => false });
      expect(first).toMatchObject({ erased: 0, done: false });
      expect((await store.versions(scope, 'charges')).size).toBe(6);
      const rest = await store.eraseBefore(scope, before, { after: first.after });
      expect(rest.done).toBe(true);
      expect([...(await store.versions(scope, 'charges')).keys()]).toEqual(['ch_new']);
      expect(await store.counts(scope)).toBeUndefined();
      expect([...(await store.versions(other, 'charges')).keys()]).toEqual(['ch_other']);
    });

    it('an erase marks the feed: a cursor from before it is refused, a read from the start begins after it', async () => {
      const orgId = org();
      const scope = { orgId, mode: 'test' as const, accountId: 'acct_1RecordsContract01' };
      // Past the feed's settle time (2 s), so the reads see every write.
      const settled = () => new Promise((resolve) => setTimeout(resolve, 2_100));
      await store.putMany([
        write(orgId, charge('ch_a', 1), 1_790_000_100),
        write(orgId, charge('ch_b', 1), 1_790_000_100),
      ]);
      await settled();
      const read = await store.changes(scope, { after: 0, limit: 10 });
      expect(read.changes.map((c) => c.objectId).sort()).toEqual(['ch_a', 'ch_b']);
      await store.markErased(scope);
      await expect(store.changes(scope, { after: read.next, limit: 10 })).rejects.toBeInstanceOf(
        FeedCursorErasedError,
      );
      await expect(store.changes(scope, { after: 1, limit: 10 })).rejects.toBeInstanceOf(
        FeedCursorErasedError,
      );
      // Still stored (the erase deletes them next), but before the mark: a new reader never sees them.
      const fresh = await store.changes(scope, { after: 0, limit: 10 });
      expect(fresh).toMatchObject({ changes: [], hasMore: false });
      expect(fresh.next).toBeGreaterThan(read.next);
      await store.put(write(orgId, charge('ch_c', 2), 1_790_000_200));
      await settled();
      const after = await store.changes(scope, { after: fresh.next, limit: 10 });
      expect(after.changes.map((c) => c.objectId)).toEqual(['ch_c']);
      expect((await store.changes(scope, { after: 0, limit: 10 })).changes.map((c) => c.objectId)).toEqual([
        'ch_c',
      ]);
    });

    it('keeps orgs apart', async () => {
      const a = org();
      const b = org();
      await store.put(write(a, charge('ch_shared', 1), 1000));
      await expect(
        store.get({ orgId: b, mode: 'test', accountId: 'acct_1RecordsContract01' }, 'charges', 'ch_shared'),
      ).resolves.toBeUndefined();
      expect(
        (await store.versions({ orgId: b, mode: 'test', accountId: 'acct_1RecordsContract01' }, 'charges'))
          .size,
      ).toBe(0);
    });

    it('stores a large invoice compressed and gives back the same object', async () => {
      const orgId = org();
      const lines = Array.from({ length: 10 }, (_, i) => ({
        id: `il_${i}`,
        object: 'line_item',
        description: 'x'.repeat(2000),
        amount: i,
      }));
      const invoice = {
        id: 'in_big',
        object: 'invoice',
        created: 1_790_000_000,
        total: 45,
        currency: 'usd',
        status: 'paid',
        lines: { object: 'list', data: lines },
      };
      const def = resourceByName('invoices');
      if (!def) throw new Error('no invoices');
      await store.put({
        orgId,
        mode: 'test',
        accountId: 'acct_1RecordsContract01',
        resource: 'invoices',
        object: invoice,
        version: recordVersion(def, invoice, { at: 1, by: 'read' }),
        source: 'sync',
      });
      expect(
        (
          await store.get(
            { orgId: orgId, mode: 'test', accountId: 'acct_1RecordsContract01' },
            'invoices',
            'in_big',
          )
        )?.object,
      ).toEqual(invoice);
    });

    it("reads every page of an invoice's lines (past one Query page), and only those of the stored version", async () => {
      const orgId = org();
      const account = 'acct_1RecordsContract01';
      const def = resourceByName('invoices');
      if (!def) throw new Error('no invoices');
      // 700 lines that do not compress: several hundred KB per page, more than one Query page in all.
      const lines = Array.from({ length: 700 }, (_, i) => ({
        id: `il_${String(i).padStart(4, '0')}`,
        object: 'line_item',
        description: randomBytes(1500).toString('base64'),
        amount: i,
      }));
      const invoice = (created: number, hasMore: boolean) => ({
        id: 'in_paged',
        object: 'invoice',
        created: 1_790_000_000,
        status: 'draft',
        updated: created,
        lines: { object: 'list', data: [], has_more: hasMore },
      });
      const v1 = recordVersion(def, invoice(1, true), { at: 1_790_000_100, by: 'read' });
      await store.put({
        orgId,
        mode: 'test',
        accountId: account,
        resource: 'invoices',
        object: invoice(1, true),
        version: v1,
        source: 'sync',
      });
      await store.putLines(
        { orgId: orgId, mode: 'test', accountId: account },
        'invoices',
        'in_paged',
        v1,
        lines,
      );
      const read = await store.lines(
        { orgId: orgId, mode: 'test', accountId: account },
        'invoices',
        'in_paged',
      );
      expect(read.map((l) => l.id)).toEqual(lines.map((l) => l.id));
      // Its line pages are not invoices of their own.
      await expect(
        store.recount({ orgId: orgId, mode: 'test', accountId: account }, 'invoices'),
      ).resolves.toBe(1);
      // The draft shrank to what Stripe embeds: the pages of the older version are not its lines.
      const v2 = recordVersion(def, invoice(2, false), { at: 1_790_000_200, by: 'read' });
      await store.put({
        orgId,
        mode: 'test',
        accountId: account,
        resource: 'invoices',
        object: invoice(2, false),
        version: v2,
        source: 'webhook',
      });
      await expect(
        store.lines({ orgId: orgId, mode: 'test', accountId: account }, 'invoices', 'in_paged'),
      ).resolves.toEqual([]);
      await expect(
        store.lines({ orgId: orgId, mode: 'test', accountId: account }, 'invoices', 'in_unknown'),
      ).resolves.toEqual([]);
      // A newer version with fewer pages leaves nothing of the old pages behind.
      const v3 = recordVersion(def, invoice(3, true), { at: 1_790_000_300, by: 'read' });
      await store.put({
        orgId,
        mode: 'test',
        accountId: account,
        resource: 'invoices',
        object: invoice(3, true),
        version: v3,
        source: 'sync',
      });
      await store.putLines(
        { orgId: orgId, mode: 'test', accountId: account },
        'invoices',
        'in_paged',
        v3,
        lines.slice(0, 150),
      );
      await expect(
        store.lines({ orgId: orgId, mode: 'test', accountId: account }, 'invoices', 'in_paged'),
      ).resolves.toHaveLength(150);
      await store.deleteLinePages(
        { orgId: orgId, mode: 'test', accountId: account },
        'invoices',
        'in_paged',
        v3,
      );
      await expect(
        store.lines({ orgId: orgId, mode: 'test', accountId: account }, 'invoices', 'in_paged'),
      ).resolves.toHaveLength(150);
      const v4 = recordVersion(def, invoice(4, false), { at: 1_790_000_400, by: 'read' });
      await store.deleteLinePages(
        { orgId: orgId, mode: 'test', accountId: account },
        'invoices',
        'in_paged',
        v4,
      );
      // Gone (the stored invoice is still v3, whose pages they were).
      await expect(
        store.lines({ orgId: orgId, mode: 'test', accountId: account }, 'invoices', 'in_paged'),
      ).resolves.toEqual([]);
      await store.put({
        orgId,
        mode: 'test',
        accountId: account,
        resource: 'invoices',
        object: invoice(4, false),
        version: v4,
        source: 'sync',
      });
      await expect(
        store.lines({ orgId: orgId, mode: 'test', accountId: account }, 'invoices', 'in_paged'),
      ).resolves.toEqual([]);
      const left = await store.versions({ orgId: orgId, mode: 'test', accountId: account }, 'invoices');
      expect([...left.keys()]).toEqual(['in_paged']);
      await expect(
        store.recount({ orgId: orgId, mode: 'test', accountId: account }, 'invoices'),
      ).resolves.toBe(1);
    });

    it('keeps an invoice’s line ids, and marks lines deleted only over an older version, counting the live ones', async () => {
      const scope = { orgId: org(), mode: 'test' as const, accountId: 'acct_1RecordsContract01' };
      const line = (id: string) => ({
        id,
        object: 'line_item',
        invoice: 'in_l',
        amount: 100,
        currency: 'usd',
      });
      const v = (n: number) => `00000000${n}:0:000000000000:0000000000000000`;
      await store.put({
        ...scope,
        resource: 'invoices',
        object: { id: 'in_l', object: 'invoice', created: 1, status: 'draft' },
        version: v(2),
        source: 'sync',
        lineIds: ['il_a', 'il_b', 'il_c'],
      });
      await expect(store.storedLines(scope, 'invoices', ['in_l', 'in_none'])).resolves.toEqual(
        new Map([['in_l', { version: v(2), lineIds: ['il_a', 'il_b', 'il_c'] }]]),
      );
      const lines = ['il_a', 'il_b', 'il_c'].map((id) => ({
        ...scope,
        resource: 'invoice_line_items' as const,
        object: line(id),
        version: v(2),
        source: 'sync' as const,
        parentId: 'in_l',
      }));
      await expect(store.putMany(lines)).resolves.toMatchObject({
        created: 3,
        deltas: { invoice_line_items: 3 },
      });
      // il_c is newer already (a later version of its invoice still has it): left alone.
      await store.put({ ...(lines[2] as RecordWrite), version: v(5) });
      // il_b was marked before: no longer counted, so marking it again changes no count.
      await expect(store.markLinesDeleted(scope, 'invoice_line_items', ['il_b'], v(3))).resolves.toBe(-1);
      await expect(
        store.markLinesDeleted(scope, 'invoice_line_items', ['il_a', 'il_b', 'il_c', 'il_unknown'], v(4)),
      ).resolves.toBe(-1);
      expect(await store.get(scope, 'invoice_line_items', 'il_a')).toMatchObject({
        deleted: true,
        version: v(4),
        object: line('il_a'),
      });
      expect(await store.get(scope, 'invoice_line_items', 'il_c')).toMatchObject({
        deleted: false,
        version: v(5),
      });
      expect(await store.get(scope, 'invoice_line_items', 'il_unknown')).toBeUndefined();
      await expect(store.recount(scope, 'invoice_line_items')).resolves.toBe(1);
    });
  });
}

export function eventLedgerContract(
  name: string,
  makeLedger: (now: () => number) => EventLedger | Promise<EventLedger>,
) {
  describe(`${name} (EventLedger contract)`, () => {
    let now = Date.now();
    let ledger: EventLedger;
    beforeEach(async () => {
      now = Date.now();
      ledger = await makeLedger(() => now);
    });
    const id = () => `evt_${randomUUID().replace(/-/g, '')}`;

    it('claims an event once; a finished one is done; concurrent claims get one winner', async () => {
      const e = id();
      const claims = await Promise.all(Array.from({ length: 5 }, () => ledger.begin(e)));
      expect(claims.filter((c) => c === 'new')).toHaveLength(1);
      expect(claims.filter((c) => c === 'busy')).toHaveLength(4);
      await ledger.complete(e);
      await expect(ledger.begin(e)).resolves.toBe('done');
    });

    it('lets a released claim be taken again, and an abandoned one after its lease, each as a retry', async () => {
      const e = id();
      await expect(ledger.begin(e)).resolves.toBe('new');
      await ledger.release(e);
      await expect(ledger.begin(e)).resolves.toBe('retry');
      await expect(ledger.begin(e)).resolves.toBe('busy');
      now += 10 * 60_000; // the worker died: its lease ran out
      await expect(ledger.begin(e)).resolves.toBe('retry');
      await ledger.complete(e);
      await ledger.release(e); // releasing a completed event changes nothing
      await expect(ledger.begin(e)).resolves.toBe('done');
    });
  });
}
