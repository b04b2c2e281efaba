import type Stripe from 'stripe';
import fixtures from './stripe-fixtures.json';

/**
 * Stripe objects built on Stripe's own published examples: every field of the
 * fixture is kept, and the fields that vary are overridden with values typed
 * against stripe-node's types, so a renamed or retyped field fails to compile.
 */
type FixtureName = keyof typeof fixtures.resources;

function fromFixture<T>(name: FixtureName, overrides: Partial<T>): T {
  // The fixtures are Stripe's examples of these exact types; the cast is the
  // one place JSON becomes a typed object.
  const base = structuredClone(fixtures.resources[name]) as unknown as T;
  return Object.assign(base as object, overrides) as T;
}

export type ResourceName =
  | 'balance_transactions'
  | 'charges'
  | 'refunds'
  | 'invoices'
  | 'credit_notes'
  | 'disputes'
  | 'customers'
  | 'products'
  | 'prices'
  | 'coupons'
  | 'payouts'
  | 'subscriptions'
  | 'invoice_payments'
  | 'subscription_schedules';

export const RESOURCES: readonly ResourceName[] = [
  'balance_transactions',
  'charges',
  'refunds',
  'invoices',
  'credit_notes',
  'disputes',
  'customers',
  'products',
  'prices',
  'coupons',
  'payouts',
  'subscriptions',
  'invoice_payments',
  'subscription_schedules',
];

export const ID_PREFIX: Record<ResourceName, string> = {
  balance_transactions: 'txn',
  charges: 'ch',
  refunds: 're',
  invoices: 'in',
  credit_notes: 'cn',
  disputes: 'dp',
  customers: 'cus',
  products: 'prod',
  prices: 'price',
  // Coupon ids are the merchant's own codes; the sandbox's start with `co_`.
  coupons: 'co',
  payouts: 'po',
  subscriptions: 'sub',
  invoice_payments: 'inpay',
  subscription_schedules: 'sub_sched',
};

/** The object name Stripe uses in `object` and in "No such …" messages. */
export const OBJECT_NAME: Record<ResourceName, string> = {
  balance_transactions: 'balance_transaction',
  charges: 'charge',
  refunds: 'refund',
  invoices: 'invoice',
  credit_notes: 'credit_note',
  disputes: 'dispute',
  customers: 'customer',
  products: 'product',
  prices: 'price',
  coupons: 'coupon',
  payouts: 'payout',
  subscriptions: 'subscription',
  invoice_payments: 'invoice_payment',
  subscription_schedules: 'subscription_schedule',
};

/**
 * What Stripe answers for a deleted customer (`{ id, object, deleted: true }`): unlike other
 * objects, a deleted customer can still be retrieved. Deleted products and coupons are 404.
 */
export function deletedStub(resource: ResourceName, id: string) {
  return { id, object: OBJECT_NAME[resource], deleted: true as const };
}

export interface Common {
  id: string;
  created: number;
  livemode: boolean;
  amount: number;
  currency: string;
  customer: string;
}

export function charge(
  c: Common & {
    balanceTransaction: string | null;
    description: string;
    amountRefunded?: number;
    disputed?: boolean;
  },
): Stripe.Charge {
  const refunded = c.amountRefunded ?? 0;
  const built = fromFixture<Stripe.Charge>('charge', {
    id: c.id,
    created: c.created,
    livemode: c.livemode,
    amount: c.amount,
    amount_captured: c.amount,
    amount_refunded: refunded,
    captured: true,
    paid: true,
    refunded: refunded >= c.amount,
    disputed: c.disputed ?? false,
    status: 'succeeded',
    currency: c.currency,
    customer: c.customer,
    balance_transaction: c.balanceTransaction,
    description: c.description,
    receipt_url: `https://pay.stripe.com/receipts/sandbox/${c.id}`,
    // Not the example's placeholders (an expanded `source`, a destination `obj_123`, one card
    // for every charge): a card payment through a PaymentIntent has no source nor transfer.
    source: null,
    transfer_data: null,
    transfer_group: null,
    payment_method: `pm_${c.id.slice(3)}`,
  });
  // Charges no longer embed their refunds (API 2022-11-15); older versions render them (api-versions.ts).
  delete (built as { refunds?: unknown }).refunds;
  return built;
}

export function balanceTransaction(
  c: Omit<Common, 'customer'> & {
    source: string;
    type: Stripe.BalanceTransaction.Type;
    fee: number;
    /** Default: two days after `created`, when Stripe makes a card payment's funds available. */
    availableOn?: number;
  },
): Stripe.BalanceTransaction {
  const reportingCategory: Record<string, string> = {
    charge: 'charge',
    refund: 'refund',
    adjustment: 'dispute',
    payout: 'payout',
    stripe_fee: 'fee',
  };
  return fromFixture<Stripe.BalanceTransaction>('balance_transaction', {
    id: c.id,
    created: c.created,
    available_on: c.availableOn ?? c.created + 2 * 86_400,
    amount: c.amount,
    fee: c.fee,
    fee_details:
      c.fee === 0
        ? []
        : [
            {
              amount: c.fee,
              application: null,
              currency: c.currency,
              description: 'Stripe processing fees',
              type: 'stripe_fee',
            },
          ],
    net: c.amount - c.fee,
    currency: c.currency,
    source: c.source,
    type: c.type,
    reporting_category: reportingCategory[c.type] ?? 'other_adjustment',
    description: c.type === 'charge' ? 'Payment' : c.type,
  });
}

export function refund(
  c: Omit<Common, 'customer' | 'livemode'> & { charge: string; balanceTransaction: string | null },
): Stripe.Refund {
  return fromFixture<Stripe.Refund>('refund', {
    id: c.id,
    created: c.created,
    amount: c.amount,
    currency: c.currency,
    charge: c.charge,
    balance_transaction: c.balanceTransaction,
    status: 'succeeded',
    reason: 'requested_by_customer',
  });
}

export function invoiceLine(c: {
  id: string;
  invoice: string;
  livemode: boolean;
  amount: number;
  currency: string;
  period: { start: number; end: number };
  description: string;
  /** The price billed and its product, when the sandbox has them. */
  price?: { id: string; product: string };
  /** What made the line: a subscription item (a proration, say), else an invoice item of its own. */
  subscriptionItem?: { subscription: string; item: string; proration: boolean };
}): Stripe.InvoiceLineItem {
  const sub = c.subscriptionItem;
  return fromFixture<Stripe.InvoiceLineItem>('line_item', {
    id: c.id,
    // Not the example's placeholders (both kinds of parent at once, ids `subscription`, …).
    parent: (sub
      ? {
          type: 'subscription_item_details',
          invoice_item_details: null,
          subscription_item_details: {
            invoice_item: null,
            proration: sub.proration,
            proration_details: { credited_items: null },
            subscription: sub.subscription,
            subscription_item: sub.item,
          },
        }
      : {
          type: 'invoice_item_details',
          invoice_item_details: {
            invoice_item: `ii_${c.id.slice(3)}`,
            proration: false,
            proration_details: { credited_items: null },
            subscription: null,
          },
          subscription_item_details: null,
        }) as never,
    subscription: sub?.subscription ?? null,
    invoice: c.invoice,
    livemode: c.livemode,
    amount: c.amount,
    subtotal: c.amount,
    currency: c.currency,
    period: c.period,
    description: c.description,
    quantity: 1,
    pricing: c.price
      ? {
          type: 'price_details',
          price_details: { price: c.price.id, product: c.price.product },
          // On the wire a decimal is a string (stripe-node types it as its own Decimal).
          unit_amount_decimal: String(c.amount) as never,
        }
      : { type: 'price_details', unit_amount_decimal: String(c.amount) as never },
  });
}

export const EMBEDDED_LINES = 10;

export function invoice(
  c: Common & {
    number: string;
    lines: Stripe.InvoiceLineItem[];
    status: 'paid' | 'open';
    customerName: string;
  },
): Stripe.Invoice {
  const subtotal = c.lines.reduce((sum, line) => sum + line.amount, 0);
  // Net of the discounts on its lines: each discount's total, as `total_discount_amounts` says.
  const discounts = new Map<string, number>();
  for (const line of c.lines)
    for (const d of line.discount_amounts ?? []) {
      const id = typeof d.discount === 'string' ? d.discount : d.discount.id;
      discounts.set(id, (discounts.get(id) ?? 0) + d.amount);
    }
  const total = subtotal - [...discounts.values()].reduce((a, b) => a + b, 0);
  const paid = c.status === 'paid';
  const periodStart = c.created - 30 * 86_400;
  return fromFixture<Stripe.Invoice>('invoice', {
    discounts: [...discounts.keys()],
    total_discount_amounts: [...discounts].map(([discount, amount]) => ({ amount, discount })),
    id: c.id,
    created: c.created,
    livemode: c.livemode,
    currency: c.currency,
    customer: c.customer,
    customer_name: c.customerName,
    number: c.number,
    status: c.status,
    amount_due: total,
    amount_paid: paid ? total : 0,
    amount_remaining: paid ? 0 : total,
    subtotal,
    subtotal_excluding_tax: subtotal,
    total,
    total_excluding_tax: total,
    effective_at: c.created,
    period_start: periodStart,
    period_end: c.created,
    attempted: paid,
    attempt_count: paid ? 1 : 0,
    status_transitions: {
      finalized_at: c.created,
      marked_uncollectible_at: null,
      paid_at: paid ? c.created + 60 : null,
      voided_at: null,
    },
    lines: {
      object: 'list',
      data: c.lines.slice(0, EMBEDDED_LINES),
      has_more: c.lines.length > EMBEDDED_LINES,
      url: `/v1/invoices/${c.id}/lines`,
    },
    hosted_invoice_url: `https://invoice.stripe.com/i/sandbox/${c.id}`,
    invoice_pdf: `https://pay.stripe.com/invoice/sandbox/${c.id}/pdf`,
  });
}

export interface CreditNoteLine {
  id: string;
  /** The line of the credit note's own invoice that it credits. */
  invoiceLineId: string;
  amount: number;
}

export function creditNoteLine(c: CreditNoteLine & { livemode: boolean }): Stripe.CreditNoteLineItem {
  return fromFixture<Stripe.CreditNoteLineItem>('credit_note_line_item', {
    id: c.id,
    amount: c.amount,
    livemode: c.livemode,
    invoice_line_item: c.invoiceLineId,
    unit_amount: c.amount,
    quantity: 1,
    description: 'Credit',
  });
}

/** A credit note of these lines (its amount is theirs); Stripe embeds the first ten. */
export function creditNote(
  c: Omit<Common, 'amount'> & { invoice: string; number: string; lines: CreditNoteLine[] },
): Stripe.CreditNote {
  const lines = c.lines.map((line) => creditNoteLine({ ...line, livemode: c.livemode }));
  const amount = c.lines.reduce((sum, line) => sum + line.amount, 0);
  return fromFixture<Stripe.CreditNote>('credit_note', {
    id: c.id,
    created: c.created,
    effective_at: c.created,
    livemode: c.livemode,
    amount,
    subtotal: amount,
    subtotal_excluding_tax: amount,
    total: amount,
    total_excluding_tax: amount,
    currency: c.currency,
    customer: c.customer,
    invoice: c.invoice,
    number: c.number,
    status: 'issued',
    type: 'post_payment',
    reason: 'product_unsatisfactory',
    refunds: [],
    pdf: `https://pay.stripe.com/credit_notes/sandbox/${c.id}/pdf`,
    lines: {
      object: 'list',
      data: lines.slice(0, EMBEDDED_LINES),
      has_more: lines.length > EMBEDDED_LINES,
      url: `/v1/credit_notes/${c.id}/lines`,
    },
  });
}

export function dispute(
  c: Omit<Common, 'customer'> & { charge: string; balanceTransaction: Stripe.BalanceTransaction | null },
): Stripe.Dispute {
  return fromFixture<Stripe.Dispute>('dispute', {
    id: c.id,
    created: c.created,
    livemode: c.livemode,
    amount: c.amount,
    currency: c.currency,
    charge: c.charge,
    balance_transactions: c.balanceTransaction ? [c.balanceTransaction] : [],
    status: 'needs_response',
    reason: 'fraudulent',
  });
}

export function customer(c: {
  id: string;
  created: number;
  livemode: boolean;
  name: string;
  email: string;
  currency: string | null;
}): Stripe.Customer {
  return fromFixture<Stripe.Customer>('customer', {
    id: c.id,
    created: c.created,
    livemode: c.livemode,
    name: c.name,
    email: c.email,
    currency: c.currency,
    // Not the example's placeholder discount (a coupon of `null`, ids `obj_123`).
    discount: null,
    invoice_prefix: c.id.slice(4, 11).toUpperCase(),
  });
}

export function product(c: {
  id: string;
  created: number;
  livemode: boolean;
  name: string;
  defaultPrice: string | null;
  active?: boolean;
}): Stripe.Product {
  return fromFixture<Stripe.Product>('product', {
    id: c.id,
    created: c.created,
    updated: c.created,
    livemode: c.livemode,
    name: c.name,
    description: null,
    default_price: c.defaultPrice,
    active: c.active ?? true,
    package_dimensions: null,
    type: 'service',
  });
}

export function price(c: {
  id: string;
  created: number;
  livemode: boolean;
  product: string;
  currency: string;
  unitAmount: number;
  /** A recurring price's interval; a one-time price has none. */
  recurring: { interval: 'month' | 'year'; intervalCount: number } | null;
  active?: boolean;
}): Stripe.Price {
  return fromFixture<Stripe.Price>('price', {
    id: c.id,
    created: c.created,
    livemode: c.livemode,
    product: c.product,
    currency: c.currency,
    unit_amount: c.unitAmount,
    unit_amount_decimal: String(c.unitAmount) as never,
    active: c.active ?? true,
    type: c.recurring ? 'recurring' : 'one_time',
    recurring: c.recurring
      ? {
          interval: c.recurring.interval,
          interval_count: c.recurring.intervalCount,
          meter: null,
          usage_type: 'licensed',
          trial_period_days: null,
        }
      : null,
    custom_unit_amount: null,
    transform_quantity: null,
    tax_behavior: 'exclusive',
  });
}

export function coupon(c: {
  id: string;
  created: number;
  livemode: boolean;
  percentOff: number | null;
  amountOff: number | null;
  currency: string | null;
  duration: 'forever' | 'once' | 'repeating';
  durationInMonths: number | null;
  valid?: boolean;
}): Stripe.Coupon {
  return fromFixture<Stripe.Coupon>('coupon', {
    id: c.id,
    created: c.created,
    livemode: c.livemode,
    percent_off: c.percentOff,
    amount_off: c.amountOff,
    currency: c.amountOff === null ? null : c.currency,
    duration: c.duration,
    duration_in_months: c.duration === 'repeating' ? c.durationInMonths : null,
    name: c.percentOff !== null ? `${c.percentOff}% off` : `${c.amountOff} off`,
    redeem_by: null,
    valid: c.valid ?? true,
  });
}

/** A test clock (test mode only): simulated time that customers and subscriptions can be put on. */
export function testClock(c: { id: string; created: number; name: string }): Stripe.TestHelpers.TestClock {
  return fromFixture<Stripe.TestHelpers.TestClock>('test_helpers.test_clock', {
    id: c.id,
    created: c.created,
    // Stripe deletes a clock 30 days after it was made; it starts frozen at its creation.
    deletes_after: c.created + 30 * 86_400,
    frozen_time: c.created,
    livemode: false,
    name: c.name,
    status: 'ready',
  });
}

/** A coupon applied to a customer's subscription: what an invoice line's `discount_amounts` name. */
export function discount(c: {
  id: string;
  customer: string;
  subscription: string;
  start: number;
  coupon: Stripe.Coupon;
}): Stripe.Discount {
  const months = c.coupon.duration === 'repeating' ? (c.coupon.duration_in_months ?? 1) : null;
  return fromFixture<Stripe.Discount>('discount', {
    id: c.id,
    customer: c.customer,
    subscription: c.subscription,
    subscription_item: null,
    invoice: null,
    invoice_item: null,
    promotion_code: null,
    checkout_session: null,
    start: c.start,
    // Stripe's months, approximated as 30 days.
    end: c.coupon.duration === 'forever' ? null : c.start + (months ?? 1) * 30 * 86_400,
    source: { type: 'coupon', coupon: c.coupon.id } as never,
  });
}

/**
 * An invoice's payment: in current API versions the only link from an invoice to what paid it
 * (here a charge: the sandbox's charges have no PaymentIntent). Open until paid.
 */
export function invoicePayment(c: {
  id: string;
  created: number;
  livemode: boolean;
  invoice: string;
  currency: string;
  amount: number;
  charge: string | null;
  paidAt: number | null;
}): Stripe.InvoicePayment {
  return fromFixture<Stripe.InvoicePayment>('invoice_payment', {
    id: c.id,
    created: c.created,
    livemode: c.livemode,
    invoice: c.invoice,
    currency: c.currency,
    amount_requested: c.amount,
    amount_paid: c.paidAt === null ? null : c.amount,
    is_default: true,
    payment: (c.charge
      ? { type: 'charge', charge: c.charge }
      : { type: 'payment_intent', payment_intent: null }) as never,
    status: c.paidAt === null ? 'open' : 'paid',
    status_transitions: { canceled_at: null, paid_at: c.paidAt },
  });
}

/** One phase of a schedule: a price and quantity from `start` to `end`. */
export interface SchedulePhase {
  start: number;
  end: number;
  price: string;
  quantity: number;
  currency: string;
}

/**
 * A subscription schedule: its phases in order, the one under way as `current_phase`, and the
 * subscription it manages once it has started (`not_started` before, `released` after).
 */
export function subscriptionSchedule(c: {
  id: string;
  created: number;
  livemode: boolean;
  customer: string;
  subscription: string | null;
  status: 'not_started' | 'active' | 'released' | 'canceled' | 'completed';
  phases: SchedulePhase[];
  now: number;
  releasedAt?: number | null;
  canceledAt?: number | null;
}): Stripe.SubscriptionSchedule {
  const base = fromFixture<Stripe.SubscriptionSchedule>('subscription_schedule', {});
  const phaseFixture = (base.phases[0] ?? {}) as Stripe.SubscriptionSchedule.Phase;
  const itemFixture = (phaseFixture.items?.[0] ?? {}) as Stripe.SubscriptionSchedule.Phase.Item;
  const current = c.status === 'active' ? c.phases.find((p) => p.start <= c.now && c.now < p.end) : undefined;
  return Object.assign(base, {
    id: c.id,
    created: c.created,
    livemode: c.livemode,
    customer: c.customer,
    subscription: c.subscription,
    status: c.status,
    // Not the example's placeholders (every transition at 1234567890, a transfer to `obj_123`).
    canceled_at: c.canceledAt ?? null,
    completed_at: null,
    released_at: c.releasedAt ?? null,
    released_subscription: c.status === 'released' ? c.subscription : null,
    current_phase: current ? { start_date: current.start, end_date: current.end } : null,
    end_behavior: 'release',
    default_settings: { ...base.default_settings, transfer_data: null, billing_thresholds: null },
    phases: c.phases.map((p) => ({
      ...structuredClone(phaseFixture),
      currency: p.currency,
      start_date: p.start,
      end_date: p.end,
      transfer_data: null,
      billing_thresholds: null,
      items: [
        {
          ...structuredClone(itemFixture),
          price: p.price,
          plan: p.price,
          quantity: p.quantity,
          billing_thresholds: null,
        },
      ],
    })),
  } as never) as Stripe.SubscriptionSchedule;
}

export function payout(c: {
  id: string;
  created: number;
  livemode: boolean;
  amount: number;
  currency: string;
  balanceTransaction: string;
  arrivalDate: number;
  status: 'paid' | 'in_transit' | 'pending' | 'failed' | 'canceled';
}): Stripe.Payout {
  return fromFixture<Stripe.Payout>('payout', {
    id: c.id,
    created: c.created,
    livemode: c.livemode,
    amount: c.amount,
    currency: c.currency,
    balance_transaction: c.balanceTransaction,
    arrival_date: c.arrivalDate,
    status: c.status,
    destination: `ba_${c.id.slice(3)}`,
    trace_id: { status: c.status === 'paid' ? 'supported' : 'pending', value: null },
  });
}

export interface SubscriptionItemSpec {
  id: string;
  created: number;
  /** The recurring price billed, whole (Stripe embeds it in each item). */
  price: Stripe.Price;
  quantity: number;
}

/** A subscription's items, every one (`subscription` embeds the first ten). */
export function subscriptionItems(c: {
  id: string;
  livemode: boolean;
  items: SubscriptionItemSpec[];
  period: { start: number; end: number };
}): Stripe.SubscriptionItem[] {
  const itemFixture = fixtures.resources.subscription_item;
  return c.items.map((item) => {
    const price = item.price;
    const plan = {
      ...structuredClone(itemFixture.plan),
      id: price.id,
      active: price.active,
      amount: price.unit_amount,
      amount_decimal: String(price.unit_amount),
      billing_scheme: 'per_unit',
      created: price.created,
      currency: price.currency,
      interval: price.recurring?.interval ?? 'month',
      interval_count: price.recurring?.interval_count ?? 1,
      livemode: c.livemode,
      metadata: {},
      product: price.product,
      transform_usage: null,
    };
    return {
      ...structuredClone(itemFixture),
      id: item.id,
      created: item.created,
      price,
      plan,
      quantity: item.quantity,
      subscription: c.id,
      current_period_start: c.period.start,
      current_period_end: c.period.end,
      billing_thresholds: null,
    } as unknown as Stripe.SubscriptionItem;
  });
}

/**
 * A subscription with its items (Stripe embeds up to ten). Since 2025 the billing period is
 * each item's (`current_period_start` / `_end`), not the subscription's.
 */
export function subscription(c: {
  id: string;
  created: number;
  livemode: boolean;
  customer: string;
  currency: string;
  items: SubscriptionItemSpec[];
  period: { start: number; end: number };
  status: 'active' | 'canceled';
  canceledAt: number | null;
  latestInvoice: string | null;
}): Stripe.Subscription {
  const base = fromFixture<Stripe.Subscription>('subscription', {});
  const items = subscriptionItems(c);
  return Object.assign(base, {
    id: c.id,
    created: c.created,
    start_date: c.created,
    billing_cycle_anchor: c.created,
    billing_cycle_anchor_config: null,
    livemode: c.livemode,
    customer: c.customer,
    currency: c.currency,
    status: c.status,
    cancel_at: null,
    canceled_at: c.canceledAt,
    ended_at: c.canceledAt,
    cancel_at_period_end: false,
    latest_invoice: c.latestInvoice,
    next_pending_invoice_item_invoice: null,
    pause_collection: null,
    trial_start: null,
    trial_end: null,
    // Not the example's placeholders (a pending update with a discount `obj_123`, a transfer
    // to `obj_123`, an interval of 797691627 months).
    pending_update: null,
    pending_invoice_item_interval: null,
    transfer_data: null,
    billing_thresholds: null,
    items: {
      object: 'list',
      data: items.slice(0, 10),
      has_more: items.length > 10,
      url: `/v1/subscription_items?subscription=${c.id}`,
    },
  } satisfies Partial<Stripe.Subscription>) as Stripe.Subscription;
}

export function account(c: { id: string; name: string; created: number; email: string }): Stripe.Account {
  const base = fromFixture<Stripe.Account>('account', {});
  return Object.assign(base, {
    id: c.id,
    created: c.created,
    email: c.email,
    business_profile: { ...(base.business_profile as Stripe.Account.BusinessProfile), name: c.name },
    settings: base.settings
      ? { ...base.settings, dashboard: { display_name: c.name, timezone: 'Etc/UTC' } }
      : null,
  } satisfies Partial<Stripe.Account>);
}

export function application(c: { id: string; name: string }): Stripe.Application {
  return fromFixture<Stripe.Application>('application', { id: c.id, name: c.name });
}

export function event(c: {
  id: string;
  type: string;
  created: number;
  livemode: boolean;
  account: string;
  apiVersion: string;
  object: unknown;
  previousAttributes?: Record<string, unknown>;
}): Stripe.Event & { account: string } {
  const base = fromFixture<Stripe.Event>('event', {});
  return Object.assign(base, {
    id: c.id,
    type: c.type as Stripe.Event['type'],
    created: c.created,
    livemode: c.livemode,
    api_version: c.apiVersion,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
    data: {
      object: c.object as Stripe.Event.Data['object'],
      ...(c.previousAttributes ? { previous_attributes: c.previousAttributes } : {}),
    },
    account: c.account,
  }) as Stripe.Event & { account: string };
}
