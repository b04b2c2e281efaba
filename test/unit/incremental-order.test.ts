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
 * A run whose Stripe answers the events list with `pages` in turn and whose
 * store keeps the newest version of each object, as the records store does.
 */
function fakeRun(pages: Stripe.Event[][]) {
  const stored = new Map<string, { version: string; object: StripeObject }>();
  const stripe = {
    events: { list: async () => ({ data: pages.shift() ?? [], has_more: false }) },
  } as unknown as Stripe;
  const run = {
    call: <R>(fn: (s: Stripe) => Promise<R>) => fn(stripe),
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
  return { run, stored };
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
  it('an event read in a later pass wins a tie of the same second with one read earlier', async () => {
    // charge.succeeded, then charge.refunded in the same second: Stripe's timestamps cannot order
    // them, and each is read by a different pass (the refund came after the first pass).
    const { run, stored } = fakeRun([
      [event('evt_1', 'charge.succeeded', charge(false))],
      [event('evt_2', 'charge.refunded', charge(true))],
    ]);
    const checkpoint = incrementalCheckpoint();
    await incremental(run, charges, checkpoint);
    expect(stored.get('ch_1')?.object.refunded).toBe(false);
    await incremental(run, charges, checkpoint);
    expect(stored.get('ch_1')?.object.refunded).toBe(true);
    expect(checkpoint.passes).toBe(2);
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
