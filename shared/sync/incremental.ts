import Stripe from 'stripe';
import { logger } from '../logger.js';
import {
  deletesObject,
  eventTypesRead,
  type Observation,
  type ResourceDef,
  resourceForEvent,
  type StripeObject,
} from '../records/registry.js';
import { STRIPE_API_VERSION } from '../stripe/api-version.js';
import { type Checkpoint, MAX_OPEN_IDS } from './checkpoint.js';
import type { StoredObject, SyncRun } from './run-context.js';

/** Positions within one pass: far more events than one pass reads (30 days of an account's). */
const PASS_STRIDE = 1_000_000_000;

/**
 * /v1/events is eventually consistent: an event can show up in the list after a later one
 * already has (seconds, as others found; Estuary's Stripe connector reads a minute behind). The
 * events cursor therefore moves only past events this much older than the page's read. The next
 * pass reads the newer ones again (`Checkpoint.ahead`): those it applied already it passes over;
 * one that showed up since among them has its object read again by id, as it is now, so a late
 * event is never skipped, nor its old payload applied over a newer one.
 */
export const EVENTS_SETTLE_SECONDS = 60;
/**
 * How many events read past the cursor a checkpoint names: a minute of an account's events. Past
 * it, the oldest are taken for late ones: read again by id (right, and dearer), or for a
 * discount, which Stripe cannot be asked for, applied as the older of their second.
 */
const MAX_AHEAD_EVENTS = 2_000;

type Silent = NonNullable<ResourceDef['silent']>;

interface Item {
  id: string;
  created: number;
}

/**
 * What changed since the checkpoint's cursor. Resources with events read
 * `/v1/events` of their types; balance transactions (no events) read their own
 * list. Pages are taken with `ending_before` — the objects just newer than the
 * cursor — and applied oldest first, the cursor saved after each. No change
 * costs one request; N changes ceil(N/100) (+1 when N is a multiple of 100).
 * Objects that Stripe changes without an event (pending balance transactions)
 * are read again first, from the oldest one stored that may still change; a
 * resource whose objects all may (coupons) is listed whole after its events.
 * Returns true when the cursor is no longer known to Stripe (older than its
 * 30 days): the caller backfills again.
 */
export async function incremental(run: SyncRun, def: ResourceDef, checkpoint: Checkpoint): Promise<boolean> {
  const usesEvents = def.eventTypes.length > 0;
  const list = (params: Stripe.PaginationParams & { created?: Stripe.RangeQueryParam }) =>
    run.call(async (stripe) => {
      const page = usesEvents
        ? await stripe.events.list({ ...params, types: eventTypesRead(def) })
        : await def.list(stripe, params);
      return {
        data: page.data as unknown as Array<Item & Record<string, unknown>>,
        hasMore: page.has_more,
        observed: run.readAt(page),
      };
    });

  // Same-second events are ordered by where the sync read them: this pass's number (kept in the
  // checkpoint, so a later pass always ranks above an earlier one), then the position within it.
  const pass = (checkpoint.passes ?? 0) + 1;
  let position = 0;
  // What the last pass read past the cursor (none for resources without events).
  const applied = new Set(checkpoint.ahead?.events.map((e) => e.id));
  const readTo = checkpoint.ahead?.to ?? -1;
  const apply = async (items: Array<Item & Record<string, unknown>>, observed: Observation) => {
    const objects: StoredObject[] = [];
    // Events Stripe rendered at another API version than the pinned one: their objects are
    // read again, at the pinned version, unless something as new is stored (a webhook's).
    const other = new Map<string, { event: Stripe.Event; object: StripeObject; sequence: number }>();
    for (const item of items) {
      if (!usesEvents) {
        const object = item as unknown as StripeObject;
        if (def.unsettled?.(object)) unsettledSince = Math.min(unsettledSince ?? Infinity, item.created);
        objects.push({ object, observed });
        continue;
      }
      const event = item as unknown as Stripe.Event;
      // Read past the cursor and applied by the last pass (see EVENTS_SETTLE_SECONDS).
      if (applied.has(event.id)) continue;
      const object = event.data.object as unknown as StripeObject;
      // Another object's event that may have changed some of this resource's silently.
      if (def.silent?.closedBy.includes(event.type) && typeof object.id === 'string') {
        holders.add(object.id);
        continue;
      }
      // Another object's event that changed one of this resource's with no event of its own (a
      // dispute's charge): that one is read again, as the events Stripe renders at another version are.
      if (def.touchedBy?.types.includes(event.type)) {
        const touched = def.touchedBy.id?.(object) ?? null;
        if (touched) other.set(touched, { event, object, sequence: pass * PASS_STRIDE + ++position });
        if (def.touchedBy.list && typeof object.id === 'string') touching.set(object.id, object);
        continue;
      }
      if (resourceForEvent(event.type, object) !== def || typeof object.id !== 'string') continue;
      const deleted = deletesObject(def, event.type);
      const late = event.created <= readTo;
      // A late discount event (one Stripe cannot be asked for again) ranks below what the last
      // pass applied in its second: Stripe's timestamps cannot order them, and it is the older
      // one as far as this service saw.
      const sequence = late && def.derived ? (pass - 1) * PASS_STRIDE : pass * PASS_STRIDE + ++position;
      // (A resource Stripe cannot be asked for again, a discount, is kept as its event shows it.)
      // An event that showed up late, among those the last pass read: its object as it is now, not
      // the payload (a later event of it may have been applied already).
      if ((event.api_version !== STRIPE_API_VERSION || late) && !deleted && !def.derived) {
        other.set(object.id, { event, object, sequence });
        continue;
      }
      objects.push({
        object,
        observed: { at: event.created, by: 'event', sequence, ...(deleted ? { deletes: true } : {}) },
        deleted,
        apiVersion: event.api_version ?? STRIPE_API_VERSION,
      });
    }
    if (other.size > 0) objects.push(...(await fresh(other)));
    checkpoint.total += await run.store(def, objects);
    if (objects.length > 0) checkpoint.passes = pass;
    // Read after the page's events were applied: as new as they are. To the end even when the
    // run must stop (a page or two each, well inside its margin): the cursor moves past these
    // events once this returns, and nothing else would read those payments again.
    for (const holder of holders)
      await listAll((stripe, params) => (def.silent as Silent).listOf(stripe, holder, params), true);
    holders.clear();
    // Those another object's event changed (a price's subscriptions), listed as they are now.
    const list = def.touchedBy?.list;
    if (list)
      for (const object of touching.values())
        await listAll((stripe, params) => list(stripe, object, params), true);
    touching.clear();
  };
  /** Objects whose events changed some of this resource's silently, by id: each lists those again. */
  const touching = new Map<string, StripeObject>();
  /** Holders (invoices) that events of `silent.closedBy` named on the current page. */
  const holders = new Set<string>();

  /** Every page of a list, each object stored as read then. */
  const listAll = async (
    read: (stripe: Stripe, params: Stripe.PaginationParams) => Promise<Stripe.ApiList<StripeObject>>,
    toTheEnd = false,
    seen?: (page: StripeObject[]) => void,
  ): Promise<boolean> => {
    let after: string | undefined;
    for (;;) {
      if (run.shouldStop() && !toTheEnd) return false;
      const page = await run.call(async (stripe) => {
        const listed = await read(stripe, { limit: 100, ...(after ? { starting_after: after } : {}) });
        return { data: listed.data, hasMore: listed.has_more, observed: run.readAt(listed) };
      });
      seen?.(page.data);
      checkpoint.total += await run.store(
        def,
        page.data.map((object) => ({ object, observed: page.observed })),
      );
      if (!page.hasMore || page.data.length === 0) return true;
      after = page.data[page.data.length - 1]?.id;
    }
  };

  const fresh = async (
    other: Map<string, { event: Stripe.Event; object: StripeObject; sequence: number }>,
  ) => {
    const stored = await run.deps.records.versionsOf(run.scope, def.name, [...other.keys()]);
    // Skipped only when what is stored was observed in a later second than the event (a read
    // or an event after it); a webhook of this same event, or one of the same second, may
    // still lack what the sync adds (lines past the embedded page, the order of a tie).
    const wanted = [...other].filter(([id, { event }]) => {
      const have = stored.get(id);
      return have === undefined || Number(have.split(':')[0]) <= event.created;
    });
    const out: StoredObject[] = [];
    let next = 0;
    const worker = async () => {
      while (next < wanted.length) {
        const [id, { event, sequence }] = wanted[next++] as (typeof wanted)[number];
        try {
          const object = await run.call((stripe) => def.retrieve(stripe, id));
          // A deleted customer still answers, as `{ id, object, deleted: true }`: gone since, and
          // its own event says so (the stub is no object to store).
          if (object.deleted === true) continue;
          // Read after the event was seen: at least as new as it, even within its second.
          const read = run.readAt(object);
          const observed: Observation =
            read.at > event.created ? read : { at: event.created, by: 'event', sequence };
          out.push({ object, observed, apiVersion: STRIPE_API_VERSION });
        } catch (error) {
          // Gone since (a draft deleted later): its own event says so.
          if (error instanceof Stripe.errors.StripeInvalidRequestError && error.code === 'resource_missing')
            continue;
          throw error;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(wanted.length, run.parallelism(8)) }, worker));
    return out;
  };

  // Objects Stripe changes without an event (a pending balance transaction becoming available):
  // read again from the oldest one stored up to the cursor; what follows the cursor is read below.
  // Until that re-read is complete, the checkpoint keeps where it must start.
  let unsettledSince: number | undefined;
  // True when nothing stored is waiting to be read again (or the re-read is done).
  let reread = def.unsettled === undefined || checkpoint.unsettledSince === undefined;
  const settle = async () => {
    const known = [unsettledSince, reread ? undefined : checkpoint.unsettledSince];
    const starts = known.filter((at): at is number => at !== undefined);
    const since = starts.length > 0 ? Math.min(...starts) : undefined;
    if (since === checkpoint.unsettledSince) return;
    if (since === undefined) delete checkpoint.unsettledSince;
    else checkpoint.unsettledSince = since;
    await run.saveCheckpoint(checkpoint);
  };

  const finish = async () => {
    await settle();
    // Objects Stripe changes with no event at all (a coupon's redemptions): the whole list again,
    // after the events, each object as read now.
    if (def.relist) await listAll((stripe, params) => def.list(stripe, params));
    // Objects Stripe opens with no event (an invoice payment): those open now; and those open
    // at the last pass that no longer are, read again by id unless an event already said so.
    const silent = def.silent;
    if (silent) {
      const open: string[] = [];
      const finished = await listAll(
        (stripe, params) => def.list(stripe, params, silent.openVariant),
        false,
        (page) => open.push(...page.filter(silent.isOpen).map((o) => o.id)),
      );
      if (!finished) return false;
      const now = new Set(open);
      const closed = (checkpoint.openIds ?? []).filter((id) => !now.has(id));
      // A batch at a time, each stored before the next: a run that must stop keeps what it read
      // (the rest are still open in the store, so the next pass reads them).
      for (let i = 0; i < closed.length; i += 25) {
        if (run.shouldStop()) return false;
        const batch = closed.slice(i, i + 25);
        const stale = (
          await Promise.all(batch.map((id) => run.deps.records.get(run.scope, def.name, id)))
        ).filter((record) => record && !record.deleted && silent.isOpen(record.object));
        const objects: StoredObject[] = [];
        for (const record of stale) {
          try {
            const object = await run.call((stripe) => def.retrieve(stripe, record?.objectId as string));
            objects.push({ object, observed: run.readAt(object) });
          } catch (error) {
            if (
              !(error instanceof Stripe.errors.StripeInvalidRequestError && error.code === 'resource_missing')
            )
              throw error;
          }
        }
        checkpoint.total += await run.store(def, objects);
      }
      if (open.length > MAX_OPEN_IDS)
        logger.warn('more open objects than a checkpoint keeps: those past the cap close unseen', {
          resource: def.name,
          open: open.length,
          kept: MAX_OPEN_IDS,
        });
      checkpoint.openIds = open.slice(0, MAX_OPEN_IDS);
      await run.saveCheckpoint(checkpoint);
    }
    return false;
  };

  /**
   * Past the newest of `items` (newest first, applied): for events, past the newest one settled
   * (`EVENTS_SETTLE_SECONDS`), the others named in `ahead` for the next pass to pass over.
   */
  const moveCursor = (items: Item[], observed: Observation) => {
    const newest = items[0] as Item;
    if (!usesEvents) {
      checkpoint.cursor = { id: newest.id, created: newest.created };
      return;
    }
    const settled = items.find((item) => item.created <= observed.at - EVENTS_SETTLE_SECONDS);
    if (settled && (!checkpoint.cursor || settled.created >= checkpoint.cursor.created))
      checkpoint.cursor = { id: settled.id, created: settled.created };
    const floor = checkpoint.cursor?.created ?? -1;
    // Newest first, each once: this page's (newer than any before it in this pass), then those before.
    const events = new Map<string, { id: string; created: number }>();
    for (const { id, created } of [...items, ...(checkpoint.ahead?.events ?? [])])
      if (created >= floor && events.size < MAX_AHEAD_EVENTS && !events.has(id))
        events.set(id, { id, created });
    checkpoint.ahead = {
      to: Math.max(checkpoint.ahead?.to ?? -1, newest.created),
      events: [...events.values()],
    };
  };

  try {
    if (!reread && checkpoint.cursor) {
      const range = { gte: checkpoint.unsettledSince as number, lte: checkpoint.cursor.created };
      let after: string | undefined;
      for (;;) {
        const page = await list({ limit: 100, created: range, ...(after ? { starting_after: after } : {}) });
        await apply(page.data, page.observed);
        await run.progress(def.name, checkpoint.total);
        if (!page.hasMore || page.data.length === 0) break;
        if (run.shouldStop()) return false;
        after = page.data[page.data.length - 1]?.id;
      }
    }
    reread = true;
    if (checkpoint.cursor) {
      let from = checkpoint.cursor.id;
      for (;;) {
        const page = await list({ limit: 100, ending_before: from });
        if (page.data.length > 0) {
          await apply([...page.data].reverse(), page.observed);
          const newest = page.data[0] as Item;
          from = newest.id;
          moveCursor(page.data, page.observed);
          await run.saveCheckpoint(checkpoint);
          await run.progress(def.name, checkpoint.total);
        }
        if (!page.hasMore || run.shouldStop()) return await finish();
      }
    }
    // No cursor yet (nothing existed at the snapshot): everything since, newest first, applied oldest first.
    const seen: Array<Item & Record<string, unknown>> = [];
    let observed: Observation | undefined;
    // The first page holds the newest events and was read first: they are settled against it.
    let firstRead: Observation | undefined;
    let after: string | undefined;
    for (;;) {
      const page = await list({
        limit: 100,
        created: { gt: checkpoint.since },
        ...(after ? { starting_after: after } : {}),
      });
      seen.push(...page.data);
      observed = page.observed;
      firstRead ??= page.observed;
      if (!page.hasMore || page.data.length === 0) break;
      after = page.data[page.data.length - 1]?.id;
    }
    if (seen.length > 0) {
      await apply([...seen].reverse(), observed as Observation);
      moveCursor(seen, firstRead as Observation);
      await run.saveCheckpoint(checkpoint);
    }
    return await finish();
  } catch (error) {
    const gone =
      error instanceof Stripe.errors.StripeInvalidRequestError &&
      error.code === 'resource_missing' &&
      (error.param === 'ending_before' || error.param === 'starting_after');
    if (!gone) throw error;
    logger.warn('the sync cursor is gone from Stripe: backfilling again', { resource: def.name });
    return true;
  }
}
