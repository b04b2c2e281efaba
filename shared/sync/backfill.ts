import { randomUUID } from 'node:crypto';
import Stripe from 'stripe';
import { logger } from '../logger.js';
import {
  isTestClockVariant,
  linesOf,
  type Observation,
  RESOURCES,
  type ResourceDef,
  type StripeObject,
  testClockVariant,
} from '../records/registry.js';

/** The upper bound of a test clock's slice: any time a clock may have been advanced to. */
const CLOCK_HORIZON = 4_102_444_800; // 2100-01-01

import type { KnownVersions } from '../ports/records-store.js';
import { type Checkpoint, MAX_OPEN_IDS, type Slice, STRIPE_EPOCH } from './checkpoint.js';
import type { SyncRun } from './run-context.js';

interface Page {
  data: StripeObject[];
  hasMore: boolean;
  observed: Observation;
  latencyMs: number;
}

/** An object a slice has read, which its next page starts after. */
interface Cursor {
  id: string;
  created: number | undefined;
}

/** Stripe's 400 for an id it does not know (`param`: which parameter named it). */
function missing(error: unknown, param?: string): boolean {
  return (
    error instanceof Stripe.errors.StripeInvalidRequestError &&
    error.code === 'resource_missing' &&
    (param === undefined || error.param === param)
  );
}

/**
 * Below this latency a page, a backfill keeps one slice (with its next page fetched while the
 * current one is written): it then delivers 100 objects per latency, 700 a second per resource
 * and more, beside the other resources, which is about what one worker writes (docs/benchmarks.md).
 * Splitting there would buy little and cost requests every time (a round of `limit=1` probes for
 * the oldest object and a partial page per slice), so the list requests per 1,000 objects stay
 * at the ceil(n/100) floor whatever the size, and do not depend on how busy this machine is: a
 * local Stripe answers a page in well under this even on a loaded machine, Stripe itself in
 * 300 ms and more.
 */
export const SPLIT_MIN_LATENCY_MS = 150;

/**
 * How many objects a slice reads before it stores them: twenty pages. What a store costs
 * beside the records' own writes (the lease check, the feed block, the count update, the
 * checkpoint) is then paid once per 2,000 objects, not per page: a first backfill makes about
 * 42.5 DynamoDB requests per 1,000 objects, 40 of them the BatchWriteItems of 25
 * (docs/benchmarks.md). A crash costs at most twenty pages read again per slice. Slices share
 * `STORE_OBJECTS_IN_FLIGHT` (each holds at least `MIN_STORE_OBJECTS`), so a split backfill
 * holds and writes about as much at once as one slice would, whatever it weighs in memory
 * and however long a run told to stop takes to finish its stores; objects with lines (each
 * may need its `/lines` read) are stored a few pages at a time.
 */
export const FLUSH_RECORDS = 2000;
export const STORE_OBJECTS_IN_FLIGHT = 3000;
const MIN_STORE_OBJECTS = 200;

/** How long a backfill waiting for its parts looks again when it found none to work on. */
const PART_POLL_MS = 500;
/** A run asks for helpers at most this often, this many times (parts no one holds meanwhile). */
const HELP_ASK_INTERVAL_MS = 10_000;
const MAX_HELP_ASKS = 3;

/** Another worker took this part over (its claim ran out): this one writes nothing more of it. */
export class PartLostError extends Error {
  constructor() {
    super('another worker took this part of the backfill over');
    this.name = 'PartLostError';
  }
}

/**
 * What a backfill does that older code's did not, each by its checkpoint flag: a checkpoint of a
 * resource a flag applies to, without it, is older code's, and the resource is backfilled again
 * so that what that code missed is read.
 */
const BACKFILL_FLAGS: ReadonlyArray<{
  flag: 'lineRecords' | 'carried' | 'touched';
  applies(def: ResourceDef): boolean;
  lacking: string;
}> = [
  {
    flag: 'lineRecords',
    applies: (def) => linesOf(def.name) !== undefined,
    lacking: 'lines were not kept as records',
  },
  {
    flag: 'carried',
    applies: (def) => Boolean(def.carries || def.perTestClock),
    lacking: 'test clocks and discounts were not read',
  },
  {
    flag: 'touched',
    applies: (def) => def.touchedBy !== undefined,
    lacking: 'objects other objects’ events change were not read again',
  },
];

/** The flags a backfill of this resource sets in its checkpoint. */
export function backfillFlags(
  def: ResourceDef,
): Partial<Record<(typeof BACKFILL_FLAGS)[number]['flag'], true>> {
  const flags: Partial<Record<(typeof BACKFILL_FLAGS)[number]['flag'], true>> = {};
  for (const { flag, applies } of BACKFILL_FLAGS) if (applies(def)) flags[flag] = true;
  return flags;
}

/** What the backfill that made this checkpoint lacked, if older code made it. */
export function lackedByBackfill(def: ResourceDef, checkpoint: Checkpoint): string | undefined {
  return BACKFILL_FLAGS.find(({ flag, applies }) => applies(def) && checkpoint[flag] !== true)?.lacking;
}

/** How many pages in a row must all be slow before a backfill splits (at 300 ms, 0.3 s of one slice). */
export const SPLIT_AFTER_SLOW_PAGES = 2;

/**
 * How many pages of a backfill to keep in flight, from Stripe's latency so far
 * (milliseconds per page, oldest first): enough to use the budget. Decided on the fastest
 * of the last `SPLIT_AFTER_SLOW_PAGES` pages, so it splits only when Stripe is slow page
 * after page (Stripe itself: 300 ms and more, every page), never for one slow page (a new
 * connection's first, a pause of this process, a retry) nor for a busy machine whose local
 * Stripe is slow now and then: then the list requests stay at the ceil(n/100) floor, whatever
 * the size and however loaded the machine. Under `SPLIT_MIN_LATENCY_MS` it is one.
 */
export function pagesInFlight(latencies: readonly number[], perSecond: number, maxSlices: number): number {
  if (latencies.length < SPLIT_AFTER_SLOW_PAGES) return 1;
  const latency = Math.min(...latencies.slice(-SPLIT_AFTER_SLOW_PAGES));
  if (latency < SPLIT_MIN_LATENCY_MS) return 1;
  const wanted = Math.ceil((perSecond * latency * 1.25) / 1000);
  return Math.max(1, Math.min(maxSlices, wanted));
}

/**
 * A resource's backfill: newest first, `limit=100`, bounded by the snapshot
 * time fixed at the start. One slice at first, the next page fetched while the
 * current one is written. When pages are slow (the request budget would allow
 * more than one in flight), the remaining time range is split into slices
 * fetched in parallel; a slice that finishes takes half of the largest one
 * left. Every stored page moves its slice's cursor in the checkpoint.
 */
export class Backfill {
  private readonly active = new Map<Slice, Promise<void>>();
  /** Slices done reading whose last store is still being written: not read again meanwhile. */
  private readonly finishing = new Map<Slice, Promise<void>>();
  private readonly lastSeen = new Map<Slice, number>();
  private latencies: number[] = [];
  /** Objects per second of `created`, from full pages seen so far: how much a range is likely to hold. */
  private density: number | undefined;
  private densityObjects = 0;
  private densitySpan = 0;
  private saving: Promise<void> = Promise.resolve();
  /**
   * What is stored of this resource, when the run may write without reading first (see
   * `SyncRun.knownVersions`): asked before its first write, once.
   */
  private known: Promise<KnownVersions | undefined> | undefined;

  constructor(
    private readonly sync: SyncRun,
    private readonly def: ResourceDef,
    private readonly checkpoint: Checkpoint,
    /**
     * `claimedBy`: the checkpoint is a part of a shared-out backfill, held by this worker.
     * `share`: the requests a second this backfill may plan for (default: the run's budget over
     * the resources running).
     */
    private readonly options: { claimedBy?: string; share?: number } = {},
  ) {
    if (checkpoint.parts) this.share = this.sync.budget.perSecond / this.sync.deps.config.fanOut.workers;
  }

  /** Once the backfill is shared out, what it plans for: its share of the account's budget. */
  private share: number | undefined;
  /** How many times, and when last, this run asked the queue for helpers. */
  private helpAsks = 0;
  private helpAskedAt = 0;
  /** A plan whose parts are merged into this checkpoint: deleted once it is saved. */
  private mergedPlan: string | undefined;

  /**
   * A fresh checkpoint: the snapshot time. Where the incremental pass will
   * start is settled when the backfill is done (see `run`).
   */
  static async start(run: SyncRun, def: ResourceDef): Promise<Checkpoint> {
    // On Stripe's clock: with ours ahead, a snapshot in Stripe's future would let objects created
    // during the backfill fall between its pages and the events cursor taken at the snapshot.
    const snapshotAt = (await run.stripeNow()) - 1;
    const clocks = def.perTestClock ? (await run.testClocks()).map(testClockVariant) : [];
    // Objects on a test clock are created at the clock's time, which can be ahead of ours.
    const checkpoint: Checkpoint = {
      orgId: run.job.orgId,
      slot: run.ref.slot,
      resource: def.name,
      ...(run.fullPassCovers(def.name) ? { passId: run.fullPass?.id } : {}),
      connectionId: run.job.connectionId,
      phase: 'backfill',
      snapshotAt,
      // One slice per list: the default one, then each list of what it leaves out (test clocks' included).
      // A resource Stripe has no list of reads nothing: the objects that carry its come with theirs.
      slices: (def.derived ? [] : [undefined, ...(def.listVariants ?? []), ...clocks]).map((variant) => ({
        gte: 0,
        lt: variant && isTestClockVariant(variant) ? CLOCK_HORIZON : snapshotAt + 1,
        done: false,
        ...(variant ? { variant } : {}),
      })),
      cursor: null,
      since: snapshotAt,
      ...backfillFlags(def),
      total: 0,
      updatedAt: '',
    };
    // Saved with the first pages stored: a run that dies before then starts again from nothing.
    return checkpoint;
  }

  async run(): Promise<void> {
    // A shared-out backfill resumed (a continuation, a takeover): the fences the run before
    // put on its parts come off, and they want helpers now.
    if (this.checkpoint.parts && !this.options.claimedBy) {
      await this.sync.deps.checkpoints.liftFences(this.sync.ref, this.def.name, this.checkpoint.parts.plan);
      await this.askForHelpAgain();
    }
    await this.fill();
    while (this.active.size > 0 || this.finishing.size > 0) {
      await Promise.race([...this.active.values(), ...this.finishing.values()]);
      await this.fill();
    }
    await this.saving.catch(() => undefined);
    if (this.failure) {
      await this.fenceHelpers();
      throw this.failure;
    }
    if (this.checkpoint.slices.every((s) => s.done) && this.options.claimedBy) {
      await this.endPart(this.options.claimedBy);
      return;
    }
    // Its own slices done, a shared-out backfill works on its parts and waits for the others'.
    if (this.checkpoint.slices.every((s) => s.done) && this.checkpoint.parts) {
      const merged = await this.awaitParts().catch(async (error: unknown) => {
        await this.fenceHelpers();
        throw error;
      });
      if (!merged) {
        await this.fenceHelpers();
        return;
      }
    } else if (this.checkpoint.parts && this.sync.shouldStop()) {
      await this.fenceHelpers();
    }
    if (this.checkpoint.slices.every((s) => s.done)) {
      if (
        this.checkpoint.cursor === null &&
        this.def.eventTypes.length > 0 &&
        this.objectsSeen + this.checkpoint.total > 0
      )
        this.checkpoint.cursor = await this.newestEventAtSnapshot();
      this.checkpoint.phase = 'incremental';
      this.checkpoint.slices = [];
      await this.sync.saveCheckpoint(this.checkpoint);
      await this.pagesSaved(this.unsaved);
      this.unsaved = 0;
      if (this.mergedPlan)
        await this.sync.deps.checkpoints
          .deleteParts(this.sync.ref, this.def.name, this.mergedPlan)
          .catch((error: unknown) =>
            logger.warn('could not delete the parts of a backfill (their TTL will)', {
              resource: this.def.name,
              error: error instanceof Error ? error.name : String(error),
            }),
          );
    }
  }

  /** A part read to its end: saved done, its claim given up. */
  private async endPart(by: string): Promise<void> {
    this.checkpoint.phase = 'incremental';
    this.checkpoint.slices = [];
    delete this.checkpoint.claim;
    await this.persist(by);
    await this.pagesSaved(this.unsaved);
    this.unsaved = 0;
  }

  /** Saves this backfill's checkpoint: a part's only while this worker still holds it. */
  private async persist(by = this.options.claimedBy): Promise<void> {
    if (!by) return this.sync.saveCheckpoint(this.checkpoint);
    this.checkpoint.updatedAt = this.sync.deps.clock.now().toISOString();
    if (!(await this.sync.deps.checkpoints.savePart(this.checkpoint, by))) throw new PartLostError();
  }

  /**
   * Whether this backfill may be shared out among workers: a live first backfill (the
   * account's budget shared through `RequestShares`), of a resource whose objects are each
   * in exactly one range of `created` and written once (no lines, nothing carried, one list),
   * not a part already, nor a full re-sync's pass (which notes what it saw).
   */
  private mayShareOut(): boolean {
    const { def, sync } = this;
    return (
      sync.deps.requestShares !== undefined &&
      (sync.deps.config.fanOut?.workers ?? 1) > 1 &&
      !this.options.claimedBy &&
      !this.checkpoint.parts &&
      !this.checkpoint.part &&
      sync.connection.livemode &&
      !linesOf(def.name) &&
      !def.carries &&
      !def.perTestClock &&
      !def.derived &&
      !def.listVariants?.length &&
      !RESOURCES.some((other) => other.carries?.resource === def.name) &&
      !sync.fullPassCovers(def.name)
    );
  }

  /**
   * Shares the range below what `slice` has read out among other workers, when it likely holds
   * at least `fanOut.minObjects` objects: `workers × 4` parts of equal width (the bottom one
   * unbounded, like the slice), each a checkpoint of its own that any worker may claim; this
   * slice keeps the newest share. The parts are written before the checkpoint that names them,
   * and helpers are asked for only once it is saved, so a crash between leaves parts no one
   * ever reads (their TTL deletes them), never two workers reading one range.
   */
  private async shareOut(slice: Slice, upper: number, lower: number): Promise<boolean> {
    const { fanOut } = this.sync.deps.config;
    if (this.density === undefined || (upper - lower) * this.density < fanOut.minObjects) return false;
    const count = fanOut.workers * 4;
    const width = Math.floor((upper - lower) / (count + 1));
    if (width < 1) return false;
    const plan = randomUUID().slice(0, 8);
    const bottom = slice.gte;
    const parts: Checkpoint[] = [];
    for (let index = 0; index < count; index++) {
      const lt = upper - width * (index + 1);
      const { orgId, slot, resource, connectionId, snapshotAt, since } = this.checkpoint;
      parts.push({
        orgId,
        ...(slot !== undefined ? { slot } : {}),
        resource,
        connectionId,
        phase: 'backfill',
        snapshotAt,
        slices: [{ gte: index === count - 1 ? bottom : lt - width, lt, done: false }],
        cursor: null,
        since,
        total: 0,
        updatedAt: this.sync.deps.clock.now().toISOString(),
        part: { plan, index },
      });
    }
    await this.sync.deps.checkpoints.putParts(parts);
    slice.gte = upper - width;
    this.checkpoint.parts = { plan, count };
    this.share = this.sync.budget.perSecond / fanOut.workers;
    await this.save();
    logger.info('a large backfill is shared out among workers', {
      resource: this.def.name,
      parts: count,
      workers: fanOut.workers,
    });
    await this.sync.askForHelp(this.def.name, plan, fanOut.workers - 1);
    this.notedHelpAsked();
    return true;
  }

  /**
   * The shared-out backfill's own slices are done: this run works on parts no one holds, and
   * waits for the rest, then adds them up. False when the run must stop first (the next run
   * waits on, asking for helpers again).
   */
  private async awaitParts(): Promise<boolean> {
    const { checkpoints, config } = this.sync.deps;
    const { plan, count } = this.checkpoint.parts as { plan: string; count: number };
    // What the last store wrote is saved before this run works on anything else.
    await this.save();
    await this.pagesSaved(this.unsaved);
    this.unsaved = 0;
    const sleep = this.sync.deps.sleep ?? ((ms: number) => new Promise((r) => setTimeout(r, ms)));
    for (;;) {
      const parts = await checkpoints.parts(this.sync.ref, this.def.name, plan);
      const open = parts.filter((part) => part.phase === 'backfill');
      if (open.length === 0) {
        if (parts.length < count) {
          // Deleted under it (a week gone by): the backfill starts again, all of it.
          await checkpoints.reset(this.sync.ref, this.def.name);
          throw new Error('parts of a shared-out backfill are missing: it starts again');
        }
        await this.mergeParts(parts);
        return true;
      }
      if (this.sync.shouldStop()) return false;
      // Parts no one holds, while this run works on one: helpers (a few times a run at most;
      // one that finds nothing left to claim exits at once).
      const now = this.sync.deps.clock.now().getTime();
      const free = open.filter((part) => !part.claim || part.claim.until < now).length;
      if (free > 1 && this.helpAsks < MAX_HELP_ASKS && now - this.helpAskedAt >= HELP_ASK_INTERVAL_MS) {
        await this.sync.askForHelp(this.def.name, plan, Math.min(config.fanOut.workers - 1, free - 1));
        this.notedHelpAsked();
      }
      const worked = await Backfill.workParts(this.sync, this.def, plan, this.sync.owner);
      if (worked === 0 && !this.sync.shouldStop()) await sleep(PART_POLL_MS);
    }
  }

  /** Asks for helpers for the open parts of a plan this run did not make (once a run). */
  private async askForHelpAgain(): Promise<void> {
    const { plan } = this.checkpoint.parts as { plan: string };
    const open = (await this.sync.deps.checkpoints.parts(this.sync.ref, this.def.name, plan)).filter(
      (part) => part.phase === 'backfill',
    ).length;
    if (open > 0)
      await this.sync.askForHelp(
        this.def.name,
        plan,
        Math.min(this.sync.deps.config.fanOut.workers - 1, open),
      );
    this.notedHelpAsked();
  }

  private notedHelpAsked(): void {
    this.helpAsks++;
    this.helpAskedAt = this.sync.deps.clock.now().getTime();
  }

  /**
   * Before this run lets its lease go (its deadline, a failure), the helpers still working on
   * its parts stop: each live claim of another worker is replaced by a fence for the lease's
   * margin, and so is every part no one holds, so no helper starts another store (its claim
   * is no longer its own) nor claims another part, and this run
   * waits that margin, in which a store begun before the fence ends (a store must finish
   * within the margin its checks gave it). Only then is the lease released, and a webhook may
   * write again. A fenced part is claimed afterwards as taken over (counted afresh): what its
   * helper wrote last may not be in its checkpoint.
   */
  private async fenceHelpers(): Promise<void> {
    const plan = this.checkpoint.parts?.plan;
    // A lease lost to another run: its helpers are that run's to stop.
    if (!plan || this.sync.leaseLost) return;
    const { checkpoints, clock, config } = this.sync.deps;
    const margin = Math.min(30_000, config.fanOut.claimMs / 4);
    // Until well after the lease is let go: the next lease holder lifts the fences.
    const until = clock.now().getTime() + margin + config.leaseMs;
    let stopped = 0;
    let unsure = false;
    try {
      // Again until a pass finds nothing to fence: a helper may claim a part while this runs.
      for (let pass = 0; pass < 5; pass++) {
        let changed = 0;
        const now = clock.now().getTime();
        for (const part of await checkpoints.parts(this.sync.ref, this.def.name, plan)) {
          const claim = part.claim;
          if (part.phase !== 'backfill' || claim?.by === this.sync.owner) continue;
          if (claim?.by.startsWith('fence') && claim.until >= until - margin) continue;
          const fenced = await checkpoints.fencePart(part, now, until);
          if (fenced === 'stopped') stopped++;
          changed++;
        }
        if (changed === 0) break;
        if (pass === 4) unsure = true;
      }
    } catch (error) {
      unsure = true;
      logger.warn('could not stop the helpers before letting the lease go', {
        resource: this.def.name,
        error: error instanceof Error ? error.name : String(error),
      });
    }
    if (stopped === 0 && !unsure) return;
    logger.info('helpers stop before this run lets its lease go', { resource: this.def.name, stopped });
    const sleep = this.sync.deps.sleep ?? ((ms: number) => new Promise((r) => setTimeout(r, ms)));
    await sleep(margin);
  }

  /**
   * Adds the parts up into this checkpoint: their totals, what may still change. A part taken
   * from a worker whose claim ran out may have been written twice: its resource is counted
   * afresh.
   */
  private async mergeParts(parts: Checkpoint[]): Promise<void> {
    for (const part of parts) {
      this.checkpoint.total += part.total;
      if (part.unsettledSince !== undefined)
        this.checkpoint.unsettledSince = Math.min(
          this.checkpoint.unsettledSince ?? Number.POSITIVE_INFINITY,
          part.unsettledSince,
        );
      for (const id of part.openIds ?? []) {
        const open = this.checkpoint.openIds ?? [];
        if (open.length < MAX_OPEN_IDS && !open.includes(id)) open.push(id);
        this.checkpoint.openIds = open;
      }
    }
    if (parts.some((part) => part.retaken))
      await this.sync.deps.records.recount(this.sync.scope, this.def.name);
    this.mergedPlan = this.checkpoint.parts?.plan;
    delete this.checkpoint.parts;
  }

  /**
   * Claims parts of a shared-out backfill one after another and reads each to its end, until
   * none is left to claim or the run must stop; how many it worked on. A part another worker
   * took over is left to it; one this worker stops in (its deadline) or fails in is given up
   * at once, its stores saved, for another to go on from.
   */
  static async workParts(run: SyncRun, def: ResourceDef, plan: string, by: string): Promise<number> {
    const { checkpoints, clock, config } = run.deps;
    let worked = 0;
    while (!run.shouldStop()) {
      const now = clock.now().getTime();
      const part = await checkpoints.claimPart(run.ref, def.name, plan, by, now, now + config.fanOut.claimMs);
      if (!part) break;
      worked++;
      const backfill = new Backfill(run, def, part, {
        claimedBy: by,
        share: run.budget.perSecond / config.fanOut.workers,
      });
      try {
        await backfill.run();
      } catch (error) {
        // Taken over, or fenced by a run letting its lease go: this worker helps no more.
        if (error instanceof PartLostError) break;
        // A store that failed may have written records it did not count: counted afresh.
        await Backfill.giveUp(run, part, by, true);
        throw error;
      }
      if (part.phase === 'backfill') await Backfill.giveUp(run, part, by, false);
    }
    return worked;
  }

  /** Releases a part this worker holds (what it stored is saved): another may claim it now. */
  private static async giveUp(run: SyncRun, part: Checkpoint, by: string, failed: boolean): Promise<void> {
    const released = { ...part, ...(failed ? { retaken: true } : {}) };
    delete released.claim;
    released.updatedAt = run.deps.clock.now().toISOString();
    await run.deps.checkpoints.savePart(released, by).catch(() => false);
  }

  /** Pages stored whose checkpoint is the one `run` saves as the backfill ends. */
  private unsaved = 0;

  /** Tells the hook of each page stored and saved in the checkpoint (tests crash here). */
  private async pagesSaved(pages: number): Promise<void> {
    for (let i = 0; i < pages; i++) await this.sync.deps.onPageStored?.(this.def.name, ++this.pagesStored);
  }

  /**
   * Starts slices up to the target: waiting ones first, then halves of the
   * largest running range. Called at the start and after every page.
   */
  private async fill(): Promise<void> {
    if (this.filling || this.sync.shouldStop() || this.failure) return;
    this.filling = true;
    try {
      for (const slice of this.checkpoint.slices) {
        if (this.active.size >= this.target()) break;
        if (!slice.done && !this.active.has(slice) && !this.finishing.has(slice)) this.launch(slice);
      }
      while (this.active.size < this.target() && (await this.split(this.target() - this.active.size))) {
        for (const fresh of this.checkpoint.slices) {
          if (this.active.size >= this.target()) break;
          if (!fresh.done && !this.active.has(fresh) && !this.finishing.has(fresh)) this.launch(fresh);
        }
      }
    } finally {
      this.filling = false;
    }
  }

  private filling = false;

  /**
   * How many pages should be in flight: enough to use this resource's share of the budget (the
   * resources running side by side share it) at the observed latency.
   */
  /** How many objects this resource's slices each read before a store (see `FLUSH_RECORDS`). */
  private storeSize(): number {
    if (linesOf(this.def.name)) return MIN_STORE_OBJECTS;
    const share = Math.floor(STORE_OBJECTS_IN_FLIGHT / Math.max(1, this.active.size));
    return Math.max(MIN_STORE_OBJECTS, Math.min(FLUSH_RECORDS, share));
  }

  private target(): number {
    const share =
      this.options.share ??
      this.share ??
      this.sync.budget.perSecond / Math.max(1, this.sync.resourcesRunning);
    return pagesInFlight(this.latencies, share, this.sync.deps.config.maxSlices);
  }

  private launch(slice: Slice) {
    const task = this.page(slice)
      .catch((error: unknown) => {
        // This resource's slices stop at their next page; the run's other resources go on.
        this.failure ??= error;
      })
      .finally(() => this.active.delete(slice));
    this.active.set(slice, task);
  }

  private failure: unknown;

  /**
   * Gives `wanted` new slices equal shares of the largest remaining range
   * among running slices (fewer when the shares would hold less than a page
   * each); false when nothing is worth splitting. Equal shares finish together,
   * so fewer slices are split again later, each split costing a partial page.
   */
  private async split(wanted: number): Promise<boolean> {
    if (this.density === undefined) return false;
    let best: { slice: Slice; upper: number; lower: number } | undefined;
    for (const slice of this.active.keys()) {
      // A test clock's list is one slice: its objects' times are the clock's, not a range to share.
      if (slice.variant && isTestClockVariant(slice.variant)) continue;
      const upper = this.lastSeen.get(slice) ?? slice.lt - 1;
      // The bottom slice has no lower bound: what it may still hold is estimated, never assumed.
      const lower = slice.gte < STRIPE_EPOCH ? await this.oldestEstimate(upper) : slice.gte;
      if (!best || upper - lower > best.upper - best.lower) best = { slice, upper, lower };
    }
    if (!best) return false;
    const { slice, upper, lower } = best;
    if (this.mayShareOut()) {
      // A failure here is the backfill's (recorded, as a page's is), never a throw out of `fill`:
      // `run` must still wait for the stores under way.
      const shared = await this.shareOut(slice, upper, lower).catch((error: unknown) => {
        this.failure ??= error;
        return true;
      });
      if (shared) return true;
    }
    // Only worth it when every share would hold a page or more: smaller slices cost a request each for little.
    const shares = Math.min(wanted + 1, Math.floor(((upper - lower) * this.density) / 100));
    if (shares < 2) return false;
    const width = Math.floor((upper - lower) / shares);
    // The running slice keeps the newest share (its cursor is there); the new ones take the rest,
    // the bottom one keeping the slice's own lower bound: unbounded stays unbounded, so an
    // estimate that is wrong costs time, never objects.
    const bottom = slice.gte;
    slice.gte = upper - width;
    for (let i = 1; i < shares; i++) {
      const lt = upper - width * i;
      this.checkpoint.slices.push({
        gte: i === shares - 1 ? bottom : lt - width,
        lt,
        done: false,
        ...(slice.variant ? { variant: slice.variant } : {}),
      });
    }
    return true;
  }

  private oldest: Promise<number> | undefined;

  /**
   * Where this resource's oldest object probably is, for sharing out the
   * bottom slice: Stripe has no "oldest first" and an account's `created` is
   * when it connected (its objects can be years older), so ask. One round of
   * `limit=1` lists in parallel, each "anything older than X?", at X going back
   * from what was seen in doubling steps to Stripe's launch: the oldest object
   * is after the first X with nothing older. Asked once per resource per run;
   * a failed probe makes it Stripe's launch.
   */
  private oldestEstimate(upper: number): Promise<number> {
    if (!this.oldest) {
      const span = Math.max(3600, this.checkpoint.snapshotAt - upper);
      const points: number[] = [];
      for (let at = upper - 2 * span; at > STRIPE_EPOCH; at = upper - 2 * (upper - at)) points.push(at);
      this.oldest = Promise.all(
        points.map((at) =>
          this.sync
            .call((stripe) => this.def.list(stripe, { limit: 1, created: { lt: at } }))
            .then(
              (list) => list.data.length === 0,
              () => false,
            ),
        ),
      ).then((empty) => {
        const first = empty.indexOf(true);
        return first === -1 ? STRIPE_EPOCH : (points[first] as number);
      });
    }
    return this.oldest;
  }

  /**
   * One page of a slice, after `after` (an object read from it) or from the slice's top; `lt`
   * narrows the top (see below).
   */
  private async fetch(slice: Slice, after?: Cursor, lt = slice.lt): Promise<Page> {
    const created: Stripe.RangeQueryParam = { lt, ...(slice.gte > 0 ? { gte: slice.gte } : {}) };
    let latencyMs = 0;
    let list: Stripe.ApiList<StripeObject>;
    try {
      // Stripe's own latency, without the wait for the budget: that decides how many pages to keep in flight.
      list = await this.sync.call(async (stripe) => {
        const started = Date.now();
        try {
          return await this.def.list(
            stripe,
            { limit: 100, created, ...(after ? { starting_after: after.id } : {}) },
            slice.variant,
          );
        } finally {
          latencyMs = Date.now() - started;
        }
      });
    } catch (error) {
      // The object the slice read up to was deleted since (Stripe refuses a cursor naming it,
      // 400 resource_missing on starting_after): read on from its second, without a cursor.
      // What that second holds above it is read again and stored again, unchanged.
      if (after && missing(error, 'starting_after')) {
        logger.info('the object a slice had read up to is gone: it reads on from that second', {
          resource: this.def.name,
        });
        return this.fetch(
          slice,
          undefined,
          after.created === undefined ? lt : Math.min(lt, after.created + 1),
        );
      }
      // A test clock deleted since its slice was made (by the user, or by Stripe 30 days on)
      // takes its objects with it: nothing is left to read there.
      if (slice.variant && isTestClockVariant(slice.variant) && missing(error)) {
        logger.info('a test clock is gone: its slice is done', { resource: this.def.name });
        list = { object: 'list', url: '', data: [], has_more: false };
      } else throw error;
    }
    this.latencies.push(latencyMs);
    return { data: list.data, hasMore: list.has_more, observed: this.sync.readAt(list), latencyMs };
  }

  /**
   * Pages through one slice until it is done or the run must stop. Pages are stored
   * `FLUSH_RECORDS` objects at a time (fewer at the slice's end or the run's stop), while the
   * next ones are fetched: each store is one lease check, one block of feed positions, one
   * count update and one checkpoint for twenty pages, not for each. A crash loses at most that
   * much reading, never a record: the checkpoint moves only past what was stored.
   */
  private async page(slice: Slice): Promise<void> {
    let buffered: Page[] = [];
    let held = 0;
    let storing: Promise<void> | undefined;
    let failed = false;
    const store = async (pages: Page[], end: boolean) => {
      if (storing) await storing;
      // Told to stop meanwhile: these wait for the next run (the checkpoint is short of them).
      if (this.sync.shouldStop()) return;
      storing = this.storePages(slice, pages, end).catch((error: unknown) => {
        failed = true;
        throw error;
      });
      storing.catch(() => undefined);
    };
    try {
      let page = await this.fetch(
        slice,
        slice.startingAfter ? { id: slice.startingAfter, created: slice.afterCreated } : undefined,
      );
      for (;;) {
        const last = page.data[page.data.length - 1];
        this.objectsSeen += page.data.length;
        // Fetch the next page while this one is held or stored; not when the run is about to stop.
        const next =
          page.hasMore && last && !this.sync.shouldStop() && !failed
            ? this.fetch(slice, { id: last.id, created: last.created })
            : undefined;
        next?.catch(() => undefined);
        if (last) {
          // Where the slice has read to: a split shares out only what lies below it.
          this.lastSeen.set(slice, last.created ?? slice.gte);
          const first = page.data[0];
          if (page.hasMore && first?.created !== undefined && last.created !== undefined) {
            this.densityObjects += page.data.length;
            this.densitySpan += Math.max(1, first.created - last.created);
            this.density = this.densityObjects / this.densitySpan;
          }
        }
        buffered.push(page);
        held += page.data.length;
        // Told to stop with more to read: what is held is not stored (its checkpoint has not
        // moved; the next run reads it again), so the run stops after the store in flight.
        if (!next && page.hasMore && last !== undefined && this.sync.shouldStop()) {
          this.finish(slice, storing);
          return;
        }
        // Past the range a split gave away, the rest belongs to another slice.
        const end = !next || (last !== undefined && (last.created ?? 0) < slice.gte);
        if (end || held >= this.storeSize()) {
          await store(buffered, end);
          buffered = [];
          held = 0;
        }
        await this.fill();
        if (end) {
          this.finish(slice, storing);
          return;
        }
        try {
          page = await next;
        } catch (error) {
          // What was read before the failure is stored: the next run goes on after it.
          if (buffered.length > 0) await store(buffered, true);
          throw error;
        }
      }
    } catch (error) {
      // The pages being stored finish (or fail) first.
      if (storing) await storing.catch(() => undefined);
      throw error;
    }
  }

  /**
   * A slice done reading gives its place to another (a split) while its last store is
   * written; the backfill ends once that store has.
   */
  private finish(slice: Slice, storing: Promise<void> | undefined): void {
    if (!storing) return;
    this.finishing.set(
      slice,
      storing
        .catch((error: unknown) => {
          this.failure ??= error;
        })
        .finally(() => this.finishing.delete(slice)),
    );
  }

  /**
   * Stores pages of a slice in one go, in the order read, then moves the slice's cursor past
   * them in the checkpoint. `end`: nothing follows them in this run (the slice may be done).
   */
  private async storePages(slice: Slice, pages: Page[], end: boolean): Promise<void> {
    const last = pages.findLast((page) => page.data.length > 0)?.data.at(-1);
    // A page asked for before a split can reach below this slice's new lower bound: those
    // objects are another slice's to store (and count), not this one's.
    const mine = pages.map((page) =>
      page.data.filter((object) => (object.created ?? slice.gte) >= slice.gte),
    );
    const objects = pages.flatMap((page, i) =>
      (mine[i] as StripeObject[]).map((object) => ({ object, observed: page.observed })),
    );
    if (objects.length > 0) this.known ??= this.sync.knownVersions(this.def);
    if (this.options.claimedBy && objects.length > 0) await this.renewClaim(this.options.claimedBy);
    const created = await this.sync.store(this.def, objects, await this.known);
    this.checkpoint.total += created;
    this.noteUnsettled(mine.flat());
    const first = pages.find((page) => page.data.length > 0)?.data[0];
    if (
      first &&
      this.checkpoint.cursor === null &&
      this.def.eventTypes.length === 0 &&
      this.isNewest(slice)
    ) {
      // Objects without events (balance transactions) are read later from the newest one seen.
      this.checkpoint.cursor = { id: first.id, created: first.created ?? this.checkpoint.snapshotAt };
    }
    if (last) {
      slice.startingAfter = last.id;
      slice.afterCreated = last.created;
      // Past the range a split gave away: the rest belongs to another slice.
      if ((last.created ?? 0) < slice.gte) slice.done = true;
    }
    if (end && !(pages.at(-1) as Page).hasMore) slice.done = true;
    // The last slice done: `run` saves the checkpoint at once, its backfill over.
    // (A part's total is not its resource's: the status shows the asking run's.)
    const progress = () =>
      this.options.claimedBy ? Promise.resolve() : this.sync.progress(this.def.name, this.checkpoint.total);
    if (this.checkpoint.slices.every((s) => s.done)) {
      this.unsaved += pages.length;
      await progress();
      return;
    }
    await this.save();
    // The status shows what is stored and saved before anyone is told a page is.
    await progress();
    await this.pagesSaved(pages.length);
  }

  /** Keeps where the incremental pass must start reading objects that can still change. */
  private noteUnsettled(objects: StripeObject[]) {
    const { silent } = this.def;
    if (silent)
      for (const object of objects) {
        if (!silent.isOpen(object)) continue;
        const open = this.checkpoint.openIds ?? [];
        if (open.length < MAX_OPEN_IDS && !open.includes(object.id)) open.push(object.id);
        this.checkpoint.openIds = open;
      }
    const { unsettled } = this.def;
    if (!unsettled) return;
    for (const object of objects) {
      if (object.created === undefined || !unsettled(object)) continue;
      this.checkpoint.unsettledSince = Math.min(this.checkpoint.unsettledSince ?? Infinity, object.created);
    }
  }

  private pagesStored = 0;
  private objectsSeen = 0;

  /**
   * The newest event of this resource's types at the snapshot: the incremental
   * pass reads what follows it. Events do not change, so asking once the
   * backfill is done gives the same answer as asking at its start, and a
   * resource that turned out empty does not ask at all: its incremental pass
   * reads every event since the snapshot instead (`Checkpoint.cursor` null).
   */
  private async newestEventAtSnapshot(): Promise<Checkpoint['cursor']> {
    const { snapshotAt } = this.checkpoint;
    const newest = await this.sync.call((stripe) =>
      stripe.events.list({ limit: 1, types: [...this.def.eventTypes], created: { lte: snapshotAt } }),
    );
    const event = newest.data[0];
    return event ? { id: event.id, created: event.created } : null;
  }

  /** The slice holding the snapshot's newest objects, before any page of it was stored. */
  private isNewest(slice: Slice): boolean {
    return slice.lt === this.checkpoint.snapshotAt + 1 && slice.startingAfter === undefined && !slice.variant;
  }

  /**
   * A part's writes must finish well inside its claim: before each store the claim is moved on,
   * if it still holds for the margin (as the run's lease is checked), else this worker stops.
   */
  private async renewClaim(by: string): Promise<void> {
    const { clock, config, checkpoints } = this.sync.deps;
    const now = clock.now().getTime();
    const margin = Math.min(30_000, config.fanOut.claimMs / 4);
    if (!(await checkpoints.renewPart(this.checkpoint, by, now + margin, now + config.fanOut.claimMs)))
      throw new PartLostError();
    if (this.checkpoint.claim) this.checkpoint.claim.until = now + config.fanOut.claimMs;
  }

  /** Checkpoint writes are serialised: slices finish pages concurrently. */
  private save(): Promise<void> {
    this.saving = this.saving.then(() => this.persist());
    return this.saving.then(() => {
      if (this.failure) throw this.failure;
    });
  }
}
