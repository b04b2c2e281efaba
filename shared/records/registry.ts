import type Stripe from 'stripe';

import type { LineResourceName, ListedResourceName, ResourceName } from './names.js';

export {
  LINE_RESOURCE_NAMES,
  LISTED_RESOURCES,
  type LineResourceName,
  type ListedResourceName,
  RECORD_RESOURCES,
  type ResourceName,
} from './names.js';

/**
 * Resources whose objects hold lines: a first page embedded (an invoice's `lines`, a
 * subscription's `items`), the rest on a list of their own.
 */
export type LinedResource = 'invoices' | 'credit_notes' | 'subscriptions';

export interface StripeObject {
  id: string;
  object: string;
  created?: number;
  [key: string]: unknown;
}

export interface ResourceDef {
  name: ListedResourceName;
  /** The `object` value of its objects. */
  objectName: string;
  /** The app permission its reads and its events need (the manifest asks for each). */
  permission: string;
  /** Event types that carry one of its objects as `data.object` (for webhooks and /v1/events). */
  eventTypes: readonly string[];
  /**
   * Lists a page (newest first) with stripe-node: of the default list, or of one of
   * `listVariants`.
   */
  list(
    stripe: Stripe,
    params: Stripe.PaginationParams & { created?: Stripe.RangeQueryParam },
    variant?: string,
  ): Promise<Stripe.ApiList<StripeObject>>;
  /**
   * Lists to read besides the default one when it leaves objects out (`archived`: Stripe lists
   * active prices only, archived ones with `active=false`). A backfill reads each.
   */
  listVariants?: readonly string[];
  /**
   * Test mode: Stripe's list leaves out the objects on a test clock unless asked by their clock
   * (`test_clock=`). A backfill in test mode also reads the list of each test clock the account
   * has (variant `test_clock:<id>`); live mode has no test clocks.
   */
  perTestClock?: boolean;
  /**
   * For objects that embed a first page of lines (invoices, credit notes, a subscription's
   * items): lists the rest, after `starting_after`.
   */
  listLines?(
    stripe: Stripe,
    id: string,
    params: Stripe.PaginationParams,
  ): Promise<Stripe.ApiList<StripeObject>>;
  /** One object, fresh (at the pinned API version): for events Stripe rendered at another. */
  retrieve(stripe: Stripe, id: string): Promise<StripeObject>;
  /**
   * Whether an event of this type deletes the object (default: `*.deleted`). A subscription's
   * `customer.subscription.deleted` cancels it: it stays, and its status says so.
   */
  deletedBy?(eventType: string): boolean;
  /**
   * False when Stripe's list leaves out objects that still exist (inline prices, test-clock
   * customers' subscriptions, …) or it never deletes any (payouts): a full re-sync then does
   * not mark the unseen as deleted, as absence from the list would not mean deletion.
   */
  sweepable?: boolean;
  /**
   * True for an object Stripe's default list leaves out though it exists (a customer on a test
   * clock): a full re-sync never marks such an object deleted for being unseen.
   */
  unlisted?(object: StripeObject): boolean;
  /** The fields Defrr queries, kept as item attributes (the full object is stored compressed). */
  attributes(object: StripeObject): Record<string, string | number | boolean | null>;
  /** The latest of the object's own timestamps: the tie-break when two snapshots share a second. */
  changedAt(object: StripeObject): number;
  /**
   * For a resource without events: true while Stripe may still change the object with no
   * event to say so (a balance transaction is `pending` until `available_on`). Every
   * incremental pass reads such objects again, from the oldest one stored.
   */
  unsettled?(object: StripeObject): boolean;
  /**
   * Stripe changes its objects with no event to say so (a coupon's `times_redeemed` on each
   * redemption, its `valid` when it runs out or passes `redeem_by`): every incremental pass,
   * after the events, reads the whole list again. Only for resources an account has few of.
   */
  relist?: boolean;
  /**
   * Stripe has no list of its objects (discounts): a backfill reads nothing of its own; its
   * objects come from those that carry them (`carries`) and from its events.
   */
  derived?: boolean;
  /**
   * Objects of a `derived` resource this object carries as read from its list (a customer's
   * `discount`, a subscription's `discounts` expanded), and the object as Stripe shows it
   * unexpanded: what is stored for it.
   */
  carries?: {
    resource: ListedResourceName;
    split(object: StripeObject): { object: StripeObject; carried: StripeObject[] };
  };
  /**
   * Events of another resource that change objects of this one with no event of their own: a
   * dispute sets its charge's `disputed`, and Stripe sends `charge.updated` only for a description,
   * metadata or an asynchronous capture. The incremental pass reads these events beside its own
   * and reads the object each names (`id`) again, or lists again those it changed (`list`: a
   * price archived or renamed shows so in every subscription of it, with no event of theirs);
   * a webhook of one asks for that pass.
   */
  touchedBy?: {
    types: readonly string[];
    id?(object: StripeObject): string | null;
    list?(
      stripe: Stripe,
      object: StripeObject,
      params: Stripe.PaginationParams,
    ): Promise<Stripe.ApiList<StripeObject>>;
  };
  /**
   * Stripe opens some of its objects and cancels them with no event of their own (an invoice
   * payment opens when its invoice is finalized and is canceled when the invoice is voided; its
   * only event is `invoice_payment.paid`). Every incremental pass, after its events, lists those
   * open now (`list` with variant `openVariant`), and reads the events of `closedBy` beside its
   * own: for each, the objects of the holder it names are listed again (`listOf`).
   */
  silent?: {
    openVariant: string;
    isOpen(object: StripeObject): boolean;
    closedBy: readonly string[];
    listOf(
      stripe: Stripe,
      holderId: string,
      params: Stripe.PaginationParams,
    ): Promise<Stripe.ApiList<StripeObject>>;
  };
}

const num = (v: unknown) => (typeof v === 'number' ? v : null);
const str = (v: unknown) => (typeof v === 'string' ? v : null);
const idOf = (v: unknown) =>
  typeof v === 'string'
    ? v
    : typeof v === 'object' && v && 'id' in v
      ? String((v as { id: unknown }).id)
      : null;
/** The sum of a list's `amount`s (an invoice's taxes or discounts), or null without a list. */
const sumAmounts = (list: unknown) =>
  Array.isArray(list)
    ? list.reduce((sum: number, item) => sum + (num((item as { amount?: unknown } | null)?.amount) ?? 0), 0)
    : null;
const latest = (...values: unknown[]) =>
  Math.max(0, ...values.filter((v): v is number => typeof v === 'number'));
const asList = <T>(p: Promise<Stripe.ApiList<T>>) => p as unknown as Promise<Stripe.ApiList<StripeObject>>;
const asObject = <T>(p: Promise<T>) => p as unknown as Promise<StripeObject>;
/**
 * Discount objects among a field's values (an expanded `discounts`, or an embedded `discount`);
 * not a deleted one's stub (its own event ends it).
 */
const discountObjects = (value: unknown): StripeObject[] =>
  (Array.isArray(value) ? value : [value]).filter(
    (v): v is StripeObject =>
      typeof v === 'object' &&
      v !== null &&
      (v as { object?: unknown }).object === 'discount' &&
      (v as { deleted?: unknown }).deleted !== true,
  );

/** The list of one test clock's objects (`perTestClock`), or the default list's parameters. */
const TEST_CLOCK_VARIANT = 'test_clock:';
export const testClockVariant = (clockId: string) => `${TEST_CLOCK_VARIANT}${clockId}`;
export const isTestClockVariant = (variant: string) => variant.startsWith(TEST_CLOCK_VARIANT);
const clockParams = (variant: string | undefined) =>
  variant?.startsWith(TEST_CLOCK_VARIANT) ? { test_clock: variant.slice(TEST_CLOCK_VARIANT.length) } : {};

/**
 * The registry: a new resource is one entry here. The order is the order a
 * sync walks them in.
 */
export const RESOURCES: readonly ResourceDef[] = [
  {
    // First: what carries them (customers, subscriptions) is read after its snapshot, so no
    // discount event falls between the two.
    // What a coupon made: which coupon, for whom (a customer, a subscription or one of its
    // items, an invoice), from when to when. Invoice lines name them in `discount_amounts`.
    name: 'discounts',
    objectName: 'discount',
    // Unconfirmed: its object is a coupon's doing, and its events are a customer's.
    permission: 'coupon_read',
    eventTypes: ['customer.discount.created', 'customer.discount.updated', 'customer.discount.deleted'],
    derived: true,
    // No list: nothing is ever unseen.
    sweepable: false,
    list: () => Promise.reject(new Error('Stripe has no list of discounts')),
    retrieve: () => Promise.reject(new Error('Stripe has no retrieve of a discount')),
    attributes: (o) => {
      const source = (o.source ?? null) as Record<string, unknown> | null;
      return {
        // Current API versions name the coupon in `source`; older ones embed it.
        coupon: idOf(source?.coupon) ?? idOf(o.coupon),
        customer: idOf(o.customer),
        subscription: idOf(o.subscription),
        subscriptionItem: idOf(o.subscription_item),
        invoice: idOf(o.invoice),
        invoiceItem: idOf(o.invoice_item),
        promotionCode: idOf(o.promotion_code),
        start: num(o.start),
        end: num(o.end),
      };
    },
    changedAt: (o) => latest(o.start),
  },
  {
    name: 'balance_transactions',
    objectName: 'balance_transaction',
    permission: 'balance_read',
    eventTypes: [],
    list: (stripe, params) => asList(stripe.balanceTransactions.list(params)),
    retrieve: (stripe, id) => asObject(stripe.balanceTransactions.retrieve(id)),
    attributes: (o) => ({
      amount: num(o.amount),
      currency: str(o.currency),
      type: str(o.type),
      status: str(o.status),
      source: idOf(o.source),
      net: num(o.net),
      fee: num(o.fee),
    }),
    changedAt: (o) => latest(o.created, o.available_on),
    unsettled: (o) => o.status === 'pending',
  },
  {
    name: 'charges',
    objectName: 'charge',
    permission: 'charge_read',
    eventTypes: [
      'charge.captured',
      'charge.expired',
      'charge.failed',
      'charge.pending',
      'charge.refunded',
      'charge.succeeded',
      'charge.updated',
    ],
    touchedBy: {
      types: [
        'charge.dispute.created',
        'charge.dispute.updated',
        'charge.dispute.closed',
        'charge.dispute.funds_reinstated',
        'charge.dispute.funds_withdrawn',
      ],
      id: (dispute) => idOf(dispute.charge),
    },
    list: (stripe, params) => asList(stripe.charges.list(params)),
    retrieve: (stripe, id) => asObject(stripe.charges.retrieve(id)),
    attributes: (o) => ({
      amount: num(o.amount),
      amountRefunded: num(o.amount_refunded),
      currency: str(o.currency),
      status: str(o.status),
      customer: idOf(o.customer),
      paid: typeof o.paid === 'boolean' ? o.paid : null,
      refunded: typeof o.refunded === 'boolean' ? o.refunded : null,
      disputed: typeof o.disputed === 'boolean' ? o.disputed : null,
    }),
    changedAt: (o) => latest(o.created),
  },
  {
    name: 'refunds',
    objectName: 'refund',
    permission: 'charge_read',
    eventTypes: ['refund.created', 'refund.updated', 'refund.failed', 'charge.refund.updated'],
    list: (stripe, params) => asList(stripe.refunds.list(params)),
    retrieve: (stripe, id) => asObject(stripe.refunds.retrieve(id)),
    attributes: (o) => ({
      amount: num(o.amount),
      currency: str(o.currency),
      status: str(o.status),
      charge: idOf(o.charge),
    }),
    changedAt: (o) => latest(o.created),
  },
  {
    name: 'invoices',
    objectName: 'invoice',
    permission: 'invoice_read',
    eventTypes: [
      'invoice.created',
      'invoice.deleted',
      'invoice.finalized',
      'invoice.finalization_failed',
      'invoice.marked_uncollectible',
      'invoice.overdue',
      'invoice.paid',
      'invoice.payment_action_required',
      'invoice.payment_failed',
      'invoice.payment_succeeded',
      'invoice.sent',
      'invoice.updated',
      'invoice.voided',
      'invoice.will_be_due',
    ],
    list: (stripe, params) => asList(stripe.invoices.list(params)),
    retrieve: (stripe, id) => asObject(stripe.invoices.retrieve(id)),
    listLines: (stripe, id, params) => asList(stripe.invoices.listLineItems(id, params)),
    attributes: (o) => {
      const transitions = (o.status_transitions ?? {}) as Record<string, unknown>;
      const parent = (o.parent ?? null) as {
        subscription_details?: { subscription?: unknown } | null;
      } | null;
      return {
        total: num(o.total),
        subtotal: num(o.subtotal),
        totalExcludingTax: num(o.total_excluding_tax),
        // Sums of the invoice's own lists (null when Stripe sent none).
        totalTax: sumAmounts(o.total_taxes),
        totalDiscount: sumAmounts(o.total_discount_amounts),
        amountPaid: num(o.amount_paid),
        currency: str(o.currency),
        status: str(o.status),
        customer: idOf(o.customer),
        // Where current API versions keep it (`parent`), else where older ones did.
        subscription: idOf(parent?.subscription_details?.subscription) ?? idOf(o.subscription),
        billingReason: str(o.billing_reason),
        number: str(o.number),
        periodStart: num(o.period_start),
        periodEnd: num(o.period_end),
        finalizedAt: num(transitions.finalized_at),
        paidAt: num(transitions.paid_at),
        voidedAt: num(transitions.voided_at),
        markedUncollectibleAt: num(transitions.marked_uncollectible_at),
      };
    },
    changedAt: (o) => {
      const t = (o.status_transitions ?? {}) as Record<string, unknown>;
      return latest(
        o.created,
        o.effective_at,
        t.finalized_at,
        t.paid_at,
        t.voided_at,
        t.marked_uncollectible_at,
      );
    },
  },
  {
    name: 'credit_notes',
    objectName: 'credit_note',
    permission: 'invoice_read',
    eventTypes: ['credit_note.created', 'credit_note.updated', 'credit_note.voided'],
    list: (stripe, params) => asList(stripe.creditNotes.list(params)),
    retrieve: (stripe, id) => asObject(stripe.creditNotes.retrieve(id)),
    listLines: (stripe, id, params) => asList(stripe.creditNotes.listLineItems(id, params)),
    attributes: (o) => ({
      total: num(o.total),
      currency: str(o.currency),
      status: str(o.status),
      invoice: idOf(o.invoice),
      type: str(o.type),
    }),
    changedAt: (o) => latest(o.created, o.effective_at, o.voided_at),
  },
  {
    name: 'disputes',
    objectName: 'dispute',
    permission: 'dispute_read',
    eventTypes: [
      'charge.dispute.created',
      'charge.dispute.updated',
      'charge.dispute.closed',
      'charge.dispute.funds_reinstated',
      'charge.dispute.funds_withdrawn',
    ],
    list: (stripe, params) => asList(stripe.disputes.list(params)),
    retrieve: (stripe, id) => asObject(stripe.disputes.retrieve(id)),
    attributes: (o) => ({
      amount: num(o.amount),
      currency: str(o.currency),
      status: str(o.status),
      reason: str(o.reason),
      charge: idOf(o.charge),
    }),
    changedAt: (o) => latest(o.created),
  },
  {
    name: 'customers',
    objectName: 'customer',
    permission: 'customer_read',
    // A deleted customer leaves the list: only its event says so.
    eventTypes: ['customer.created', 'customer.updated', 'customer.deleted'],
    list: (stripe, params, variant) => asList(stripe.customers.list({ ...params, ...clockParams(variant) })),
    // Its customer-wide discount is embedded whole.
    carries: { resource: 'discounts', split: (o) => ({ object: o, carried: discountObjects(o.discount) }) },
    // The list leaves out test-clock customers (test mode), unless asked for by clock.
    perTestClock: true,
    unlisted: (o) => typeof o.test_clock === 'string',
    retrieve: (stripe, id) => asObject(stripe.customers.retrieve(id)),
    attributes: (o) => ({
      currency: str(o.currency),
      balance: num(o.balance),
      delinquent: typeof o.delinquent === 'boolean' ? o.delinquent : null,
    }),
    changedAt: (o) => latest(o.created),
  },
  {
    name: 'products',
    objectName: 'product',
    permission: 'product_read',
    eventTypes: ['product.created', 'product.updated', 'product.deleted'],
    list: (stripe, params) => asList(stripe.products.list(params)),
    retrieve: (stripe, id) => asObject(stripe.products.retrieve(id)),
    attributes: (o) => ({
      active: typeof o.active === 'boolean' ? o.active : null,
      defaultPrice: idOf(o.default_price),
      type: str(o.type),
    }),
    changedAt: (o) => latest(o.created, o.updated),
  },
  {
    name: 'prices',
    objectName: 'price',
    permission: 'plan_read',
    // Prices are archived (`active: false`), rarely deleted. Stripe's list shows active prices
    // only: the backfill reads the archived ones' list too. Prices made inline (`price_data`)
    // are in neither list, so what a full re-sync does not see is not marked deleted.
    eventTypes: ['price.created', 'price.updated', 'price.deleted'],
    sweepable: false,
    list: (stripe, params, variant) =>
      asList(stripe.prices.list({ ...params, ...(variant === 'archived' ? { active: false } : {}) })),
    listVariants: ['archived'],
    retrieve: (stripe, id) => asObject(stripe.prices.retrieve(id)),
    attributes: (o) => {
      const recurring = (o.recurring ?? null) as { interval?: unknown; interval_count?: unknown } | null;
      return {
        product: idOf(o.product),
        active: typeof o.active === 'boolean' ? o.active : null,
        currency: str(o.currency),
        unitAmount: num(o.unit_amount),
        type: str(o.type),
        interval: str(recurring?.interval),
        intervalCount: num(recurring?.interval_count),
        taxBehavior: str(o.tax_behavior),
      };
    },
    changedAt: (o) => latest(o.created),
  },
  {
    name: 'coupons',
    objectName: 'coupon',
    permission: 'coupon_read',
    eventTypes: ['coupon.created', 'coupon.updated', 'coupon.deleted'],
    // A redemption counts on the coupon, and a coupon expires or runs out, with no event.
    relist: true,
    list: (stripe, params) => asList(stripe.coupons.list(params)),
    retrieve: (stripe, id) => asObject(stripe.coupons.retrieve(id)),
    attributes: (o) => ({
      percentOff: num(o.percent_off),
      amountOff: num(o.amount_off),
      currency: str(o.currency),
      duration: str(o.duration),
      durationInMonths: num(o.duration_in_months),
      valid: typeof o.valid === 'boolean' ? o.valid : null,
    }),
    changedAt: (o) => latest(o.created),
  },
  {
    name: 'payouts',
    objectName: 'payout',
    permission: 'payout_read',
    // Stripe never deletes a payout.
    sweepable: false,
    eventTypes: [
      'payout.created',
      'payout.updated',
      'payout.paid',
      'payout.failed',
      'payout.canceled',
      'payout.reconciliation_completed',
    ],
    list: (stripe, params) => asList(stripe.payouts.list(params)),
    retrieve: (stripe, id) => asObject(stripe.payouts.retrieve(id)),
    attributes: (o) => ({
      amount: num(o.amount),
      currency: str(o.currency),
      status: str(o.status),
      arrivalDate: num(o.arrival_date),
      balanceTransaction: idOf(o.balance_transaction),
    }),
    changedAt: (o) => latest(o.created),
  },
  {
    name: 'subscriptions',
    objectName: 'subscription',
    permission: 'subscription_read',
    eventTypes: [
      'customer.subscription.created',
      'customer.subscription.updated',
      'customer.subscription.deleted',
      'customer.subscription.paused',
      'customer.subscription.resumed',
      'customer.subscription.pending_update_applied',
      'customer.subscription.pending_update_expired',
      'customer.subscription.trial_will_end',
    ],
    // Without `status`, Stripe leaves canceled subscriptions out of the list.
    // Nor, in test mode, those on a test clock, unless asked by their clock.
    list: (stripe, params, variant) =>
      asList(
        stripe.subscriptions.list({
          ...params,
          status: 'all',
          ...clockParams(variant),
          // Its discounts are ids unless expanded: the list brings them whole (Stripe has no list of
          // discounts), and the subscription is stored with the ids, as Stripe shows it.
          expand: ['data.discounts'],
        }),
      ),
    // A subscription shows its items' prices whole: a price archived or renamed is so in each
    // subscription of it at once, and Stripe sends only `price.updated`.
    touchedBy: {
      types: ['price.updated'],
      list: (stripe, price, params) =>
        asList(
          stripe.subscriptions.list({
            ...params,
            price: price.id,
            status: 'all',
            expand: ['data.discounts'],
          }),
        ),
    },
    carries: {
      resource: 'discounts',
      split: (o) => {
        const carried = discountObjects(o.discounts);
        if (!Array.isArray(o.discounts) || carried.length === 0) return { object: o, carried: [] };
        const ids = o.discounts.map((d) => (typeof d === 'string' ? d : (d as StripeObject).id));
        return { object: { ...o, discounts: ids }, carried };
      },
    },
    perTestClock: true,
    listLines: (stripe, id, params) => asList(stripe.subscriptionItems.list({ subscription: id, ...params })),
    retrieve: (stripe, id) => asObject(stripe.subscriptions.retrieve(id)),
    deletedBy: () => false,
    // Never deleted, only canceled; and lists leave some out (test-clock customers').
    sweepable: false,
    attributes: (o) => {
      const items = ((o.items as { data?: Array<Record<string, unknown>> } | undefined)?.data ?? []) as Array<
        Record<string, unknown>
      >;
      return {
        customer: idOf(o.customer),
        status: str(o.status),
        currency: str(o.currency),
        startDate: num(o.start_date),
        // Since 2025 the period is each item's: the subscription's runs from the latest item
        // start to the earliest item end (older versions carry it on the subscription).
        currentPeriodStart: items.length
          ? Math.max(...items.map((i) => num(i.current_period_start) ?? 0))
          : num(o.current_period_start),
        currentPeriodEnd: items.length
          ? Math.min(...items.map((i) => num(i.current_period_end) ?? Number.MAX_SAFE_INTEGER))
          : num(o.current_period_end),
        cancelAt: num(o.cancel_at),
        canceledAt: num(o.canceled_at),
        endedAt: num(o.ended_at),
        collectionMethod: str(o.collection_method),
        latestInvoice: idOf(o.latest_invoice),
        // The embedded page only (more are listed apart): a count, and whether it is all.
        items: items.length,
        itemsComplete: (o.items as { has_more?: unknown } | undefined)?.has_more !== true,
      };
    },
    changedAt: (o) => latest(o.created, o.canceled_at, o.ended_at),
  },
  {
    // In current API versions the only link from an invoice to its payment intent or charge
    // (and so to the balance transaction whose rate converts it).
    name: 'invoice_payments',
    objectName: 'invoice_payment',
    permission: 'invoice_read',
    eventTypes: ['invoice_payment.paid'],
    // Never deleted (a payment is canceled): absence from the list would not mean deletion.
    sweepable: false,
    list: (stripe, params, variant) =>
      asList(stripe.invoicePayments.list({ ...params, ...(variant === 'open' ? { status: 'open' } : {}) })),
    // Opened (at an invoice's finalization) and canceled (when it is voided or written off)
    // with no invoice payment event: see `silent`.
    silent: {
      openVariant: 'open',
      isOpen: (o) => o.status === 'open',
      closedBy: ['invoice.voided', 'invoice.marked_uncollectible'],
      listOf: (stripe, invoice, params) => asList(stripe.invoicePayments.list({ ...params, invoice })),
    },
    retrieve: (stripe, id) => asObject(stripe.invoicePayments.retrieve(id)),
    attributes: (o) => {
      const payment = (o.payment ?? {}) as Record<string, unknown>;
      const transitions = (o.status_transitions ?? {}) as Record<string, unknown>;
      return {
        invoice: idOf(o.invoice),
        amountPaid: num(o.amount_paid),
        amountRequested: num(o.amount_requested),
        currency: str(o.currency),
        status: str(o.status),
        isDefault: typeof o.is_default === 'boolean' ? o.is_default : null,
        paymentType: str(payment.type),
        paymentIntent: idOf(payment.payment_intent),
        charge: idOf(payment.charge),
        paidAt: num(transitions.paid_at),
        canceledAt: num(transitions.canceled_at),
      };
    },
    changedAt: (o) => {
      const t = (o.status_transitions ?? {}) as Record<string, unknown>;
      return latest(o.created, t.paid_at, t.canceled_at);
    },
  },
  {
    // What a subscription will bill next: its phases (prices, quantities, dates).
    name: 'subscription_schedules',
    objectName: 'subscription_schedule',
    permission: 'subscription_read',
    eventTypes: [
      'subscription_schedule.aborted',
      'subscription_schedule.canceled',
      'subscription_schedule.completed',
      'subscription_schedule.created',
      'subscription_schedule.expiring',
      'subscription_schedule.released',
      'subscription_schedule.updated',
    ],
    // Schedules end (released, canceled, completed) but are not deleted.
    sweepable: false,
    list: (stripe, params) => asList(stripe.subscriptionSchedules.list(params)),
    retrieve: (stripe, id) => asObject(stripe.subscriptionSchedules.retrieve(id)),
    attributes: (o) => {
      const current = (o.current_phase ?? null) as Record<string, unknown> | null;
      return {
        customer: idOf(o.customer),
        subscription: idOf(o.subscription),
        status: str(o.status),
        endBehavior: str(o.end_behavior),
        phaseCount: Array.isArray(o.phases) ? o.phases.length : null,
        currentPhaseStart: num(current?.start_date),
        currentPhaseEnd: num(current?.end_date),
        releasedAt: num(o.released_at),
        canceledAt: num(o.canceled_at),
        completedAt: num(o.completed_at),
      };
    },
    changedAt: (o) => latest(o.created, o.released_at, o.canceled_at, o.completed_at),
  },
];

/** Whether an event deletes its object: `*.deleted`, unless its resource says otherwise. */
export function deletesObject(def: ResourceDef, eventType: string): boolean {
  return def.deletedBy ? def.deletedBy(eventType) : eventType.endsWith('.deleted');
}

export const resourceByName = (name: string) => RESOURCES.find((r) => r.name === name);

/**
 * Lines as records of their own: every line of an invoice or credit note (not just the page
 * Stripe embeds), each under its own id, written with the version of the object that held it,
 * so a line is exactly as the latest stored invoice or credit note shows it. A line the holder
 * no longer has (a draft's removed line, a deleted draft's lines) is marked deleted.
 */
export interface LineResourceDef {
  name: LineResourceName;
  /** The `object` value of its objects. */
  objectName: string;
  /** The resource whose objects hold these lines. */
  parent: LinedResource;
  /** The field of the holder that embeds its first page of them. */
  field: 'lines' | 'items';
  /** The fields Defrr queries, with the id of the object that holds the line. */
  attributes(line: StripeObject, parentId: string): Record<string, string | number | boolean | null>;
}

/** The `parent` of a line: what made it (a subscription item, an invoice item, …). */
const lineParent = (o: StripeObject) => {
  const parent = (o.parent ?? null) as Record<string, unknown> | null;
  const type = str(parent?.type);
  // The details its `type` names (the other kind is null).
  const details = ((type ? parent?.[type] : null) ??
    parent?.subscription_item_details ??
    parent?.invoice_item_details ??
    null) as Record<string, unknown> | null;
  return { type, details };
};
const priceDetails = (o: StripeObject) =>
  ((o.pricing as { price_details?: Record<string, unknown> } | null | undefined)?.price_details ??
    null) as Record<string, unknown> | null;
/** Tax amounts of a line: current API versions' `taxes`, older ones' `tax_amounts`. */
const taxTotal = (o: StripeObject) => sumAmounts(o.taxes) ?? sumAmounts(o.tax_amounts);

export const LINE_RESOURCES: readonly LineResourceDef[] = [
  {
    name: 'invoice_line_items',
    objectName: 'line_item',
    parent: 'invoices',
    field: 'lines',
    attributes: (o, parentId) => {
      const { type, details } = lineParent(o);
      const price = priceDetails(o);
      const period = (o.period ?? {}) as Record<string, unknown>;
      return {
        invoice: str(o.invoice) ?? parentId,
        amount: num(o.amount),
        subtotal: num(o.subtotal),
        currency: str(o.currency),
        periodStart: num(period.start),
        periodEnd: num(period.end),
        discountTotal: sumAmounts(o.discount_amounts),
        taxTotal: taxTotal(o),
        quantity: num(o.quantity),
        proration:
          typeof details?.proration === 'boolean'
            ? details.proration
            : typeof o.proration === 'boolean'
              ? o.proration
              : null,
        // Current API versions name them in `pricing` and `parent`; older ones on the line itself.
        price: idOf(price?.price) ?? idOf(o.price),
        product: idOf(price?.product) ?? idOf((o.price as { product?: unknown } | null | undefined)?.product),
        subscription: idOf(details?.subscription) ?? idOf(o.subscription),
        subscriptionItem: idOf(details?.subscription_item) ?? idOf(o.subscription_item),
        invoiceItem: idOf(details?.invoice_item) ?? idOf(o.invoice_item),
        lineType: type ?? str(o.type),
      };
    },
  },
  {
    name: 'credit_note_line_items',
    objectName: 'credit_note_line_item',
    parent: 'credit_notes',
    field: 'lines',
    attributes: (o, parentId) => ({
      creditNote: parentId,
      invoiceLineItem: idOf(o.invoice_line_item),
      amount: num(o.amount),
      discountTotal: sumAmounts(o.discount_amounts) ?? num(o.discount_amount),
      taxTotal: taxTotal(o),
      quantity: num(o.quantity),
      lineType: str(o.type),
    }),
  },
  {
    // The performance obligations: what a subscription bills, each with its own period.
    name: 'subscription_items',
    objectName: 'subscription_item',
    parent: 'subscriptions',
    field: 'items',
    attributes: (o, parentId) => {
      const price = (o.price ?? null) as Record<string, unknown> | null;
      const recurring = (price?.recurring ?? null) as Record<string, unknown> | null;
      return {
        subscription: str(o.subscription) ?? parentId,
        price: idOf(price),
        product: idOf(price?.product),
        quantity: num(o.quantity),
        unitAmount: num(price?.unit_amount),
        currency: str(price?.currency),
        interval: str(recurring?.interval),
        intervalCount: num(recurring?.interval_count),
        // Since 2025 the billing period is each item's.
        currentPeriodStart: num(o.current_period_start),
        currentPeriodEnd: num(o.current_period_end),
      };
    },
  },
];

/** The lines kept as records of a resource's objects, if they hold any. */
export const linesOf = (resource: string) => LINE_RESOURCES.find((def) => def.parent === resource);

/** A record's queryable attributes (lines: with the id of the object that holds them). */
export function recordAttributes(
  resource: ResourceName,
  object: StripeObject,
  parentId?: string,
): Record<string, string | number | boolean | null> {
  const listed = resourceByName(resource);
  if (listed) return listed.attributes(object);
  const line = LINE_RESOURCES.find((def) => def.name === resource);
  if (!line) throw new Error(`unknown resource ${resource}`);
  return line.attributes(object, parentId ?? '');
}

/** The page of lines an object embeds (`lines`, or a subscription's `items`), and whether there are more. */
export function embeddedLines(
  lineDef: LineResourceDef,
  object: StripeObject,
): {
  data: StripeObject[];
  hasMore: boolean;
} {
  const list = object[lineDef.field] as { data?: StripeObject[]; has_more?: unknown } | null | undefined;
  return { data: list?.data ?? [], hasMore: list?.has_more === true };
}

/** True when the object embeds only the first page of its lines (or items): the rest are to be listed. */
export function hasMoreLines(object: StripeObject, resource: string): boolean {
  const lineDef = linesOf(resource);
  return lineDef ? embeddedLines(lineDef, object).hasMore : false;
}

/** Every event type a resource's incremental pass reads from /v1/events (Stripe takes at most 20). */
export function eventTypesRead(def: ResourceDef): string[] {
  return [...def.eventTypes, ...(def.silent?.closedBy ?? []), ...(def.touchedBy?.types ?? [])];
}

/** The resources whose objects an event of this type changes with no event of their own. */
export function resourcesTouchedBy(type: string): ResourceDef[] {
  return RESOURCES.filter((def) => def.touchedBy?.types.includes(type));
}

/** The resource an event's object belongs to, if the service keeps that event type. */
export function resourceForEvent(type: string, object: { object?: unknown }): ResourceDef | undefined {
  const def = RESOURCES.find((r) => r.objectName === object.object);
  return def?.eventTypes.includes(type) ? def : undefined;
}

/**
 * When Stripe showed a snapshot of an object, on Stripe's own clock: an event's `created`, or
 * for a list or a retrieve, the second before the `Date` of Stripe's answer (the read happened at
 * or a little before that answer was sent). Never this service's clock, so no skew between the
 * two can make a newer snapshot look older.
 */
export interface Observation {
  /** Unix seconds on Stripe's clock. */
  at: number;
  /** A list or retrieve, or an event (which wins a tie of the same second: its change may follow the read). */
  by: 'read' | 'event';
  /**
   * The event deletes the object (`*.deleted`): it wins a tie of the same second over any other
   * event too, as nothing follows a deletion (a customer created and deleted within a second).
   */
  deletes?: boolean;
  /**
   * Among events of one second, which Stripe's timestamps cannot order: their order in Stripe's
   * events list as the sync read it, the pass then the position in it (webhooks, which see one
   * event alone, use 0: the sync's ordered read wins a tie).
   */
  sequence?: number;
}

/**
 * A record's version, which orders every writer (backfill, incremental pass, webhook) alike:
 * the Stripe second it was observed at, an event over a read of the same second (a deletion over
 * both), the object's
 * own latest timestamp, then the sequence. Zero-padded so DynamoDB compares them as strings in
 * a condition.
 */
export function recordVersion(def: ResourceDef, object: StripeObject, observed: Observation): string {
  const pad = (n: number, width = 12) => String(Math.max(0, Math.floor(n))).padStart(width, '0');
  const rank = observed.by === 'event' ? (observed.deletes === true ? 2 : 1) : 0;
  return `${pad(observed.at)}:${rank}:${pad(def.changedAt(object))}:${pad(observed.sequence ?? 0, 16)}`;
}
