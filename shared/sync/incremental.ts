import Stripe from 'stripe';
import { logger } from '../logger.js';
import { type ResourceDef, resourceForEvent, type StripeObject } from '../records/registry.js';
import type { Checkpoint } from './checkpoint.js';
import type { SyncRun } from './sync-run.js';

/** Positions within one pass: far more events than one pass reads (30 days of an account's). */
const PASS_STRIDE = 1_000_000_000;

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
 * Returns true when the cursor is no longer known to Stripe (older than its
 * 30 days): the caller backfills again.
 */
export async function incremental(run: SyncRun, def: ResourceDef, checkpoint: Checkpoint): Promise<boolean> {
  const usesEvents = def.eventTypes.length > 0;
  const list = (params: Stripe.PaginationParams & { created?: Stripe.RangeQueryParam }) =>
    run.call(async (stripe) => {
      const page = usesEvents
        ? await stripe.events.list({ ...params, types: [...def.eventTypes] })
        : await def.list(stripe, params);
      return {
        data: page.data as unknown as Array<Item & Record<string, unknown>>,
        hasMore: page.has_more,
        observedAt: run.nowSeconds(),
      };
    });

  // Same-second events are ordered by where the sync read them: this pass's number (kept in the
  // checkpoint, so a later pass always ranks above an earlier one), then the position within it.
  const pass = (checkpoint.passes ?? 0) + 1;
  let position = 0;
  const apply = async (items: Array<Item & Record<string, unknown>>, observedAt: number) => {
    const objects: Array<{ object: StripeObject; observedAt: number; deleted?: boolean; sequence?: number }> =
      [];
    for (const item of items) {
      if (!usesEvents) {
        objects.push({ object: item as unknown as StripeObject, observedAt });
        continue;
      }
      const event = item as unknown as Stripe.Event;
      const object = event.data.object as unknown as StripeObject;
      if (resourceForEvent(event.type, object) !== def || typeof object.id !== 'string') continue;
      objects.push({
        object,
        observedAt: event.created,
        deleted: event.type.endsWith('.deleted'),
        sequence: pass * PASS_STRIDE + ++position,
      });
    }
    checkpoint.total += await run.store(def, objects);
    if (objects.length > 0) checkpoint.passes = pass;
  };

  try {
    if (checkpoint.cursor) {
      for (;;) {
        const page = await list({ limit: 100, ending_before: checkpoint.cursor.id });
        if (page.data.length > 0) {
          await apply([...page.data].reverse(), page.observedAt);
          const newest = page.data[0] as Item;
          checkpoint.cursor = { id: newest.id, created: newest.created };
          await run.saveCheckpoint(checkpoint);
          await run.progress(def.name, checkpoint.total);
        }
        if (!page.hasMore || run.shouldStop()) return false;
      }
    }
    // No cursor yet (nothing existed at the snapshot): everything since, newest first, applied oldest first.
    const seen: Array<Item & Record<string, unknown>> = [];
    let observedAt = run.nowSeconds();
    let after: string | undefined;
    for (;;) {
      const page = await list({
        limit: 100,
        created: { gt: checkpoint.since },
        ...(after ? { starting_after: after } : {}),
      });
      seen.push(...page.data);
      observedAt = page.observedAt;
      if (!page.hasMore || page.data.length === 0) break;
      after = page.data[page.data.length - 1]?.id;
    }
    if (seen.length > 0) {
      await apply([...seen].reverse(), observedAt);
      const newest = seen[0] as Item;
      checkpoint.cursor = { id: newest.id, created: newest.created };
      await run.saveCheckpoint(checkpoint);
    }
    return false;
  } catch (error) {
    const gone =
      error instanceof Stripe.errors.StripeInvalidRequestError &&
      error.code === 'resource_missing' &&
      error.param === 'ending_before';
    if (!gone) throw error;
    logger.warn('the sync cursor is gone from Stripe: backfilling again', { resource: def.name });
    return true;
  }
}
