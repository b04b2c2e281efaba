import type Stripe from 'stripe';
import {
  type Observation,
  RESOURCES,
  recordVersion,
  type StripeObject,
} from '../../shared/records/registry.js';
import { STRIPE_API_VERSION } from '../../shared/stripe/api-version.js';
import type { Checkpoint } from '../../shared/sync/checkpoint.js';
import { incremental } from '../../shared/sync/incremental.js';
import type { SyncRun } from '../../shared/sync/sync-run.js';

const charges = RESOURCES.find((r) => r.name === 'charges');
if (!charges) throw new Error('no charges in the registry');

const T = 1_790_000_000;
const charge = (refunded: boolean) =>
  ({
    id: 'ch_1',
    object: 'charge',
    created: T - 60,
    amount: 1000,
    amount_refunded: refunded ? 1000 : 0,
    refunded,
  }) as StripeObject;
const event = (id: string, type: string, object: StripeObject) =>
  ({
    id,
    object: 'event',
    type,
    created: T,
    livemode: false,
    api_version: STRIPE_API_VERSION,
    data: { object },
  }) as unknown as Stripe.Event;

/**
 * A run whose Stripe answers the events list with `pages` in turn (and a retrieve with the
 * newest object its events showed) and whose store keeps the newest version of each object,
 * as the records store does.
 */
function fakeRun(pages: Stripe.Event[][]) {
  const stored = new Map<string, { version: string; object: StripeObject }>();
  const retrieved: string[] = [];
  const stripe = {
    events: { list: async () => ({ data: pages.shift() ?? [], has_more: false }) },
    charges: {
      retrieve: async (id: string) => {
        retrieved.push(id);
        return { ...charge(true), id };
      },
    },
  } as unknown as Stripe;
  const run = {
    deps: {
      records: {
        versionsOf: async (_scope: unknown, _resource: unknown, ids: string[]) =>
          new Map(ids.flatMap((id) => (stored.has(id) ? [[id, stored.get(id)?.version as string]] : []))),
      },
    },
    call: <R>(fn: (s: Stripe) => Promise<R>) => fn(stripe),
    parallelism: (n: number) => n,
    store: async (def: typeof charges, objects: Array<{ object: StripeObject; observed: Observation }>) => {
      for (const { object, observed } of objects) {
        const version = recordVersion(def as NonNullable<typeof charges>, object, observed);
        const current = stored.get(object.id);
        if (!current || current.version < version) stored.set(object.id, { version, object });
      }
      return 0;
    },
    saveCheckpoint: async () => undefined,
    progress: async () => undefined,
    nowSeconds: () => T + 1,
    readAt: () => ({ at: T + 1, by: 'read' }),
    shouldStop: () => false,
  } as unknown as SyncRun;
  return { run, stored, retrieved };
}

/** A charges checkpoint past its backfill, its cursor just before the events the tests list. */
const incrementalCheckpoint = (): Checkpoint => ({
  orgId: 'org_1',
  resource: 'charges',
  connectionId: 'conn_1',
  phase: 'incremental',
  snapshotAt: T - 10,
  slices: [],
  cursor: { id: 'evt_0', created: T - 10 },
  since: T - 10,
  total: 0,
  updatedAt: '',
});

describe('incremental passes and same-second events', () => {
  it('an event of a second a pass read already is taken from Stripe as it is now, not from its payload', async () => {
    // charge.succeeded, then charge.refunded in the same second: Stripe's timestamps cannot order
    // them, and the refund's reached the list after the first pass (late, or just later). The
    // cursor stays a minute behind: the second pass lists both, passes over the one applied and
    // reads the charge again rather than rank a payload it cannot order.
    const { run, stored, retrieved } = fakeRun([
      [event('evt_1', 'charge.succeeded', charge(false))],
      [event('evt_2', 'charge.refunded', charge(true)), event('evt_1', 'charge.succeeded', charge(false))],
    ]);
    const checkpoint = incrementalCheckpoint();
    await incremental(run, charges, checkpoint);
    expect(stored.get('ch_1')?.object.refunded).toBe(false);
    expect(checkpoint.cursor?.id).toBe('evt_0');
    expect(checkpoint.ahead?.events.map((e) => e.id)).toEqual(['evt_1']);
    await incremental(run, charges, checkpoint);
    expect(retrieved).toEqual(['ch_1']);
    expect(stored.get('ch_1')?.object.refunded).toBe(true);
    expect(checkpoint.passes).toBe(2);
  });

  it('the cursor moves only past events a minute older than the read that listed them', async () => {
    const at = (id: string, created: number) => ({
      ...event(id, 'charge.succeeded', charge(false)),
      created,
    });
    // Listed at T + 1: evt_old is settled, evt_new (a second old) is not.
    const { run } = fakeRun([[at('evt_new', T), at('evt_old', T - 61)]]);
    const checkpoint = incrementalCheckpoint();
    checkpoint.cursor = { id: 'evt_0', created: T - 100 };
    await incremental(run, charges, checkpoint);
    expect(checkpoint.cursor).toEqual({ id: 'evt_old', created: T - 61 });
    expect(checkpoint.ahead).toEqual({
      to: T,
      events: [
        { id: 'evt_new', created: T },
        { id: 'evt_old', created: T - 61 },
      ],
    });
  });

  it('within one pass, the events apply in Stripe order (oldest first)', async () => {
    // Stripe lists newest first: the refund, then the charge it refunded.
    const { run, stored } = fakeRun([
      [event('evt_2', 'charge.refunded', charge(true)), event('evt_1', 'charge.succeeded', charge(false))],
    ]);
    const checkpoint = incrementalCheckpoint();
    await incremental(run, charges, checkpoint);
    expect(stored.get('ch_1')?.object.refunded).toBe(true);
  });
});
