import type Stripe from 'stripe';
import type { ResourceDef, StripeObject } from '../records/registry.js';
import type { Checkpoint, Slice } from './checkpoint.js';
import type { SyncRun } from './sync-run.js';

interface Page {
  data: StripeObject[];
  hasMore: boolean;
  observedAt: number;
  latencyMs: number;
}

/** Stripe launched in 2011: no object is older. The account's own `created` narrows it when known. */
const STRIPE_EPOCH = 1_293_840_000;

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
  private readonly lastSeen = new Map<Slice, number>();
  private latencies: number[] = [];
  /** Objects per second of `created`, from full pages seen so far: how much a range is likely to hold. */
  private density: number | undefined;
  private densityObjects = 0;
  private densitySpan = 0;
  private floor: number | undefined;
  private saving: Promise<void> = Promise.resolve();

  constructor(
    private readonly sync: SyncRun,
    private readonly def: ResourceDef,
    private readonly checkpoint: Checkpoint,
  ) {}

  /** A fresh checkpoint: the snapshot time, and where the incremental pass will later start. */
  static async start(run: SyncRun, def: ResourceDef): Promise<Checkpoint> {
    const snapshotAt = run.nowSeconds() - 1;
    let cursor: Checkpoint['cursor'] = null;
    if (def.eventTypes.length > 0) {
      // The newest event of these types at the snapshot: the incremental pass reads what follows it.
      const newest = await run.call((stripe) =>
        stripe.events.list({ limit: 1, types: [...def.eventTypes], created: { lte: snapshotAt } }),
      );
      const event = newest.data[0];
      if (event) cursor = { id: event.id, created: event.created };
    }
    const checkpoint: Checkpoint = {
      orgId: run.job.orgId,
      resource: def.name,
      connectionId: run.job.connectionId,
      phase: 'backfill',
      snapshotAt,
      slices: [{ gte: 0, lt: snapshotAt + 1, done: false }],
      cursor,
      since: snapshotAt,
      total: 0,
      updatedAt: '',
    };
    await run.saveCheckpoint(checkpoint);
    return checkpoint;
  }

  async run(): Promise<void> {
    await this.fill();
    while (this.active.size > 0) {
      await Promise.race(this.active.values());
      await this.fill();
    }
    await this.saving.catch(() => undefined);
    if (this.failure) throw this.failure;
    if (this.checkpoint.slices.every((s) => s.done)) {
      this.checkpoint.phase = 'incremental';
      this.checkpoint.slices = [];
      await this.sync.saveCheckpoint(this.checkpoint);
    }
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
        if (!slice.done && !this.active.has(slice)) this.launch(slice);
      }
      while (this.active.size < this.target() && (await this.split())) {
        const fresh = this.checkpoint.slices.find((s) => !s.done && !this.active.has(s));
        if (fresh) this.launch(fresh);
      }
    } finally {
      this.filling = false;
    }
  }

  private filling = false;

  /** How many pages should be in flight: enough to use the budget at the observed latency. */
  private target(): number {
    if (this.latencies.length === 0) return 1;
    const recent = this.latencies.slice(-8);
    const latency = recent.reduce((a, b) => a + b, 0) / recent.length;
    const wanted = Math.ceil((this.sync.budget.perSecond * latency * 1.25) / 1000);
    return Math.max(1, Math.min(this.sync.deps.config.maxSlices, wanted));
  }

  private launch(slice: Slice) {
    const task = this.page(slice)
      .catch((error: unknown) => {
        this.failure ??= error;
        this.sync.stopRequested = true;
      })
      .finally(() => this.active.delete(slice));
    this.active.set(slice, task);
  }

  private failure: unknown;

  /** Halves the largest remaining range among running slices; false when nothing is worth splitting. */
  private async split(): Promise<boolean> {
    let best: { slice: Slice; upper: number } | undefined;
    for (const slice of this.active.keys()) {
      const upper = this.lastSeen.get(slice) ?? slice.lt - 1;
      if (!best || upper - slice.gte > best.upper - best.slice.gte) best = { slice, upper };
    }
    if (!best || this.density === undefined) return false;
    if (best.slice.gte < STRIPE_EPOCH) best.slice.gte = await this.lowerBound();
    const { slice, upper } = best;
    // Only worth it when both halves would hold a page or more: smaller slices cost a request each for little.
    if ((upper - slice.gte) * this.density < 200) return false;
    const mid = slice.gte + Math.floor((upper - slice.gte) / 2);
    this.checkpoint.slices.push({ gte: slice.gte, lt: mid, done: false });
    slice.gte = mid;
    return true;
  }

  /** The account's creation time (one request, once): nothing in it is older. */
  private async lowerBound(): Promise<number> {
    if (this.floor === undefined) {
      const account = await this.sync.call((stripe) => stripe.accounts.retrieveCurrent());
      this.floor = Math.max(STRIPE_EPOCH, (account.created ?? STRIPE_EPOCH) - 86_400);
    }
    return this.floor;
  }

  private async fetch(slice: Slice, after: string | undefined): Promise<Page> {
    const created: Stripe.RangeQueryParam = { lt: slice.lt, ...(slice.gte > 0 ? { gte: slice.gte } : {}) };
    let latencyMs = 0;
    // Stripe's own latency, without the wait for the budget: that decides how many pages to keep in flight.
    const list = await this.sync.call(async (stripe) => {
      const started = Date.now();
      try {
        return await this.def.list(stripe, {
          limit: 100,
          created,
          ...(after ? { starting_after: after } : {}),
        });
      } finally {
        latencyMs = Date.now() - started;
      }
    });
    this.latencies.push(latencyMs);
    return { data: list.data, hasMore: list.has_more, observedAt: this.sync.nowSeconds(), latencyMs };
  }

  /** Pages through one slice until it is done or the run must stop. */
  private async page(slice: Slice): Promise<void> {
    let page = await this.fetch(slice, slice.startingAfter);
    for (;;) {
      const last = page.data[page.data.length - 1];
      // Fetch the next page while this one is written; not when the run is about to stop.
      const next = page.hasMore && last && !this.sync.shouldStop() ? this.fetch(slice, last.id) : undefined;
      next?.catch(() => undefined);
      if (last) {
        const created = await this.sync.store(
          this.def,
          page.data.map((object) => ({ object, observedAt: page.observedAt })),
        );
        this.checkpoint.total += created;
        if (this.checkpoint.cursor === null && this.def.eventTypes.length === 0 && this.isNewest(slice)) {
          // Objects without events (balance transactions) are read later from the newest one seen.
          const first = page.data[0] as StripeObject;
          this.checkpoint.cursor = { id: first.id, created: first.created ?? this.checkpoint.snapshotAt };
        }
        slice.startingAfter = last.id;
        this.lastSeen.set(slice, last.created ?? slice.gte);
        const first = page.data[0];
        if (page.hasMore && first?.created !== undefined && last.created !== undefined) {
          this.densityObjects += page.data.length;
          this.densitySpan += Math.max(1, first.created - last.created);
          this.density = this.densityObjects / this.densitySpan;
        }
        // Past the range a split gave away: the rest belongs to another slice.
        if ((last.created ?? 0) < slice.gte) slice.done = true;
      }
      if (!page.hasMore) slice.done = true;
      await this.save();
      await this.sync.deps.onPageStored?.(this.def.name, ++this.pagesStored);
      await this.sync.progress(this.def.name, this.checkpoint.total);
      await this.fill();
      if (slice.done || !next) return;
      page = await next;
    }
  }

  private pagesStored = 0;

  /** The slice holding the snapshot's newest objects, before any page of it was stored. */
  private isNewest(slice: Slice): boolean {
    return slice.lt === this.checkpoint.snapshotAt + 1 && slice.startingAfter === undefined;
  }

  /** Checkpoint writes are serialised: slices finish pages concurrently. */
  private save(): Promise<void> {
    this.saving = this.saving.then(() => this.sync.saveCheckpoint(this.checkpoint));
    return this.saving.then(() => {
      if (this.failure) throw this.failure;
    });
  }
}
