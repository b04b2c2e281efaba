import { Backfill, STORE_OBJECTS_IN_FLIGHT } from '../../shared/sync/backfill.js';
import type { Checkpoint } from '../../shared/sync/checkpoint.js';

/**
 * The backfill's stores of many pages, around a fake run: Stripe's list filtered by
 * `created` and `starting_after`, pages slow enough (on a mocked clock) to split the range
 * into slices, and crashes, Stripe errors and stops at random points. Whatever happens, every
 * checkpoint saved leads back to every object not yet stored, and a resumed backfill ends
 * with all of them stored; a run told to stop writes no more than the stores already going.
 */
jest.setTimeout(120_000);

const SNAPSHOT = 1_800_000_000;
interface Obj {
  id: string;
  object: string;
  created: number;
}

function random(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1_664_525 + 1_013_904_223) >>> 0;
    return s / 2 ** 32;
  };
}
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const clone = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

function account(seed: number, size: number) {
  const next = random(seed);
  // Newest first, as Stripe lists them (ties by id).
  const objects: Obj[] = Array.from({ length: size }, (_, i) => ({
    id: `txn_${String(i).padStart(6, '0')}`,
    object: 'balance_transaction',
    created: SNAPSHOT - 10 - Math.floor(next() * 5_000_000),
  })).sort((a, b) => b.created - a.created || (b.id < a.id ? -1 : b.id > a.id ? 1 : 0));
  return { next, objects, position: new Map(objects.map((o, i) => [o.id, i])) };
}

interface Faults {
  /** The nth store writes part of its objects, then dies. */
  crashAtStore: number;
  crashAtSave: number;
  /** The nth list request fails (a 500 after retries). */
  failAtPage: number;
  stopAtPage: number;
}

function fakeSync(seed: number, size: number) {
  const stripe = account(seed, size);
  const stored = new Set<string>();
  const saves: Array<{ checkpoint: Checkpoint; stored: Set<string> }> = [];
  const faults: Faults = { crashAtStore: -1, crashAtSave: -1, failAtPage: -1, stopAtPage: -1 };
  const state = { pages: 0, stores: 0, saveCalls: 0, stop: false, storedAfterStop: 0 };
  let clockAhead = 0;
  const realNow = Date.now.bind(Date);
  jest.spyOn(Date, 'now').mockImplementation(() => realNow() + clockAhead);
  const def = {
    name: 'balance_transactions',
    objectName: 'balance_transaction',
    eventTypes: [] as string[],
    list: async (
      _client: unknown,
      params: { limit: number; created: { lt: number; gte?: number }; starting_after?: string },
    ) => {
      // Each page takes 200 ms of the mocked clock: slow enough to split.
      clockAhead += 200;
      const page = state.pages++;
      if (page === faults.stopAtPage) state.stop = true;
      if (page === faults.failAtPage) throw new Error('Stripe answered 500');
      await sleep(Math.floor(stripe.next() * 3));
      const inRange = stripe.objects.filter(
        (o) =>
          o.created < params.created.lt &&
          (params.created.gte === undefined || o.created >= params.created.gte),
      );
      let start = 0;
      if (params.starting_after) {
        const after = stripe.position.get(params.starting_after) as number;
        start = inRange.findIndex((o) => (stripe.position.get(o.id) as number) > after);
        if (start === -1) start = inRange.length;
      }
      return {
        data: inRange.slice(start, start + params.limit),
        has_more: start + params.limit < inRange.length,
      };
    },
  };
  const run = () => ({
    job: { orgId: 'org_fake', connectionId: 'conn_fake' },
    ref: { orgId: 'org_fake', slot: 'stripe#test#acct_fake' },
    fullPass: undefined,
    fullPassCovers: () => false,
    stripeNow: async () => SNAPSHOT + 1,
    testClocks: async () => [],
    budget: { perSecond: 40 },
    resourcesRunning: 1,
    deps: { config: { maxSlices: 12 } },
    call: (fn: (client: unknown) => Promise<unknown>) => fn({}),
    readAt: () => ({ at: SNAPSHOT + 1, by: 'read' }),
    knownVersions: async () => undefined,
    shouldStop: () => state.stop,
    progress: async () => undefined,
    store: async (_def: unknown, objects: Array<{ object: Obj }>) => {
      const call = state.stores++;
      await sleep(Math.floor(stripe.next() * 8));
      const dies = call === faults.crashAtStore;
      const upTo = dies ? Math.floor(stripe.next() * objects.length) : objects.length;
      for (const { object } of objects.slice(0, upTo)) {
        if (state.stop) state.storedAfterStop++;
        stored.add(object.id);
      }
      if (dies) throw new Error('the worker died while storing');
      return upTo;
    },
    saveCheckpoint: async (checkpoint: Checkpoint) => {
      if (state.saveCalls++ === faults.crashAtSave) throw new Error('the worker died while saving');
      saves.push({ checkpoint: clone(checkpoint), stored: new Set(stored) });
      await sleep(Math.floor(stripe.next() * 3));
    },
  });
  /** Objects not stored that the checkpoint no longer leads back to (none, ever). */
  const lost = (checkpoint: Checkpoint, have: Set<string>) =>
    stripe.objects
      .filter((o) => {
        if (have.has(o.id)) return false;
        if (checkpoint.phase === 'incremental') return true;
        return !checkpoint.slices.some(
          (s) =>
            !s.done &&
            o.created < s.lt &&
            o.created >= s.gte &&
            (s.startingAfter === undefined ||
              (stripe.position.get(o.id) as number) > (stripe.position.get(s.startingAfter) as number)),
        );
      })
      .map((o) => o.id);
  return { stripe, def, stored, saves, faults, state, run, lost };
}

afterEach(() => jest.restoreAllMocks());

it.each(Array.from({ length: 40 }, (_, i) => i + 1))(
  'loses no object and saves no checkpoint past one, through crashes, errors and stops, then completes (case %i)',
  async (seed) => {
    const sync = fakeSync(seed, 6000);
    const pick = random(seed * 7);
    Object.assign(sync.faults, {
      crashAtStore: Math.floor(pick() * 12),
      crashAtSave: pick() < 0.3 ? Math.floor(pick() * 10) : -1,
      failAtPage: pick() < 0.5 ? Math.floor(pick() * 60) : -1,
      stopAtPage: pick() < 0.5 ? Math.floor(pick() * 60) : -1,
    });
    // biome-ignore lint/suspicious/noExplicitAny: a fake run, only what the backfill uses
    let run: any = sync.run();
    let checkpoint: Checkpoint | undefined = await Backfill.start(run, sync.def as never);
    for (let attempt = 0; attempt < 50; attempt++) {
      await new Backfill(run, sync.def as never, checkpoint).run().catch(() => undefined);
      for (const save of sync.saves) expect(sync.lost(save.checkpoint, save.stored)).toEqual([]);
      const last = sync.saves.at(-1)?.checkpoint;
      if (last?.phase === 'incremental') break;
      // The next run: no more faults, from what was saved (or from nothing).
      Object.assign(sync.faults, { crashAtStore: -1, crashAtSave: -1, failAtPage: -1, stopAtPage: -1 });
      sync.state.stop = false;
      run = sync.run();
      checkpoint = last ? clone(last) : await Backfill.start(run, sync.def as never);
    }
    expect(sync.saves.at(-1)?.checkpoint.phase).toBe('incremental');
    expect(sync.stripe.objects.filter((o) => !sync.stored.has(o.id))).toEqual([]);
  },
);

it('told to stop, a split backfill writes only what its slices were already storing', async () => {
  const sync = fakeSync(99, 60_000);
  // biome-ignore lint/suspicious/noExplicitAny: a fake run, only what the backfill uses
  const run: any = sync.run();
  const store = run.store;
  // One partition takes about 1,000 writes a second, whichever slice writes: stores queue up.
  let partition: Promise<unknown> = Promise.resolve();
  run.store = (def: unknown, objects: Array<{ object: Obj }>) => {
    const mine = partition.then(async () => {
      await sleep(objects.length);
      return store(def, objects);
    });
    partition = mine.catch(() => undefined);
    return mine;
  };
  const checkpoint = await Backfill.start(run, sync.def as never);
  const backfill = new Backfill(run, sync.def as never, checkpoint).run();
  await sleep(3000);
  expect(checkpoint.slices.length).toBeGreaterThan(4);
  sync.state.stop = true;
  await backfill;
  // The slices share what they store at once (whole pages: up to one more each): a stop waits
  // for that, and no more.
  expect(sync.state.storedAfterStop).toBeLessThanOrEqual(
    STORE_OBJECTS_IN_FLIGHT + 100 * checkpoint.slices.length,
  );
  // What it stored before the stop, the checkpoint says: the next run goes on from there.
  const last = sync.saves.at(-1);
  if (last) expect(sync.lost(last.checkpoint, last.stored)).toEqual([]);
});
