import type { ConnectionRef } from '../domain/connection.js';
import type { ResourceName } from '../records/registry.js';

/** One time range of a backfill, paged newest first: `created` in [gte, lt). */
export interface Slice {
  gte: number;
  lt: number;
  /** The last object stored from this slice (the next page starts after it). */
  startingAfter?: string;
  /**
   * That object's `created`: Stripe refuses a cursor naming an object deleted since (a draft
   * invoice, a customer, a coupon), and the slice then reads on from that second instead.
   */
  afterCreated?: number;
  done: boolean;
  /** Which of the resource's lists it reads (`ResourceDef.listVariants`); none: the default one. */
  variant?: string;
}

/**
 * Where a resource's sync stands, saved after every stored page so an
 * interrupted run (deadline, crash) resumes where it was.
 */
export interface Checkpoint {
  orgId: string;
  /** The connection's slot (checkpoints of the legacy per-org connection have none). */
  slot?: string;
  resource: ResourceName;
  /** A checkpoint of another connection (reconnected, maybe to another account) is ignored. */
  connectionId: string;
  /** The full re-sync whose backfill made it: during a pass, only its own checkpoints count. */
  passId?: string;
  phase: 'backfill' | 'incremental';
  /** The backfill's upper bound (unix seconds), fixed when it started. */
  snapshotAt: number;
  slices: Slice[];
  /**
   * The newest object applied (an event, or a balance transaction): the
   * incremental pass reads what is newer. Null: nothing yet, read from `since`
   * (for a resource with events, it is settled when its backfill is done).
   */
  cursor: { id: string; created: number } | null;
  /**
   * Events a pass read and applied past the cursor, which stays a minute behind them
   * (`EVENTS_SETTLE_SECONDS`): the newest `created` read, and those events (the newest 1,000).
   * The next pass reads them again and passes over these; one new among them is read by id.
   */
  ahead?: { to: number; events: Array<{ id: string; created: number }> };
  since: number;
  /**
   * Incremental passes that applied events: the version of an event's record
   * ranks by pass, then by position in it (`recordVersion`), so an event read
   * in a later pass wins a same-second tie with one read earlier.
   */
  passes?: number;
  /**
   * The `created` of the oldest stored object Stripe may still change without an event
   * (`ResourceDef.unsettled`): each incremental pass reads again from there.
   */
  unsettledSince?: number;
  /**
   * Its backfill wrote the objects' lines as records of their own (`LINE_RESOURCES`). A
   * checkpoint of invoices or credit notes without it is older code's: the resource is
   * backfilled again, so lines stored before then get their records.
   */
  lineRecords?: boolean;
  /**
   * Its backfill read each test clock's list and kept what its objects carry (discounts)
   * (`perTestClock`, `carries`). A checkpoint of customers or subscriptions without it is older
   * code's: the resource is backfilled again, so what that code missed is read.
   */
  carried?: boolean;
  /**
   * Its backfill was made by code that reads again the objects other objects' events change
   * (`touchedBy`: a dispute's charge). A checkpoint of charges without it is older code's, which
   * left a charge `disputed: false` when its dispute came after the backfill: the resource is
   * backfilled again, so stored charges get what Stripe shows now.
   */
  touched?: boolean;
  /**
   * The objects Stripe may close silently (`ResourceDef.silent`) that were open when last
   * read, up to `MAX_OPEN_IDS`: one no longer open at the next pass is read again by id.
   */
  openIds?: string[];
  /** Objects stored for this resource so far. */
  total: number;
  updatedAt: string;
  /**
   * A large live backfill shared out among workers: the ranges below its own slices are parts,
   * checkpoints of their own (`part`), and it is done once they all are (see `FanOut`).
   */
  parts?: { plan: string; count: number };
  /** This checkpoint is one part of its resource's backfill (`phase` incremental: done). */
  part?: { plan: string; index: number };
  /** Who works on this part, and until when (epoch ms): a worker that stops renewing loses it. */
  claim?: { by: string; until: number };
  /**
   * The part was taken from a worker whose claim ran out: it may have written some of the
   * part's objects the new one writes again, so its resource is counted afresh at the end.
   */
  retaken?: boolean;
}

export interface CheckpointStore {
  get(ref: ConnectionRef, resource: ResourceName): Promise<Checkpoint | undefined>;
  /** Every resource's checkpoint of the connection, in one read. */
  all(ref: ConnectionRef): Promise<Map<ResourceName, Checkpoint>>;
  put(checkpoint: Checkpoint): Promise<void>;
  /** Forgets a resource's checkpoint: the next run backfills it from the start. */
  reset(ref: ConnectionRef, resource: ResourceName): Promise<void>;
  /** Writes a backfill's parts (unclaimed), before the backfill that names them is saved. */
  putParts(parts: Checkpoint[]): Promise<void>;
  /** The parts of a backfill's plan, in index order. */
  parts(ref: ConnectionRef, resource: ResourceName, plan: string): Promise<Checkpoint[]>;
  /**
   * Claims one part not done and not claimed (or whose claim ran out before `nowMs`) for `by`
   * until `untilMs`; undefined when there is none.
   */
  claimPart(
    ref: ConnectionRef,
    resource: ResourceName,
    plan: string,
    by: string,
    nowMs: number,
    untilMs: number,
  ): Promise<Checkpoint | undefined>;
  /**
   * Moves a part's claim on to `untilMs`, if `by` still holds it at least until `mustHoldMs`:
   * false otherwise (it ran out, or another worker took the part).
   */
  renewPart(part: Checkpoint, by: string, mustHoldMs: number, untilMs: number): Promise<boolean>;
  /**
   * Puts a fence on a part (not done) until `untilMs`, if its claim is still the one `part`
   * shows: no worker writes or claims it meanwhile. `stopped`: it replaced a worker's live
   * claim (that worker's store under way may still land); `fenced`: a part no one held; false:
   * its claim changed since it was read.
   */
  fencePart(part: Checkpoint, nowMs: number, untilMs: number): Promise<'fenced' | 'stopped' | false>;
  /**
   * Lifts the fences on a plan's parts (a new lease holder: its helpers may claim them now);
   * a part fenced from a worker is marked taken over. How many it lifted.
   */
  liftFences(ref: ConnectionRef, resource: ResourceName, plan: string): Promise<number>;
  /**
   * Saves a part's progress while `by` still holds it (never its claim's expiry: `renewPart`
   * moves that; a part given without a claim is released); false if `by` no longer holds it.
   */
  savePart(part: Checkpoint, by: string): Promise<boolean>;
  /** Deletes a plan's parts (once the backfill is done). */
  deleteParts(ref: ConnectionRef, resource: ResourceName, plan: string): Promise<void>;
}

/** A part's checkpoint key: `<resource>@<plan>#<index>`, beside its resource's. */
export const partKey = (resource: string, plan: string, index?: number) =>
  `${resource}@${plan}#${index === undefined ? '' : String(index).padStart(4, '0')}`;

/**
 * Stripe launched in 2011: no object is older. Not the account's `created`: that is when it
 * connected, and its objects can be years older.
 */
/** How many open ids a checkpoint keeps (an item holds 400 KB). */
export const MAX_OPEN_IDS = 2000;

export const STRIPE_EPOCH = 1_293_840_000;
