import type Stripe from 'stripe';
import { Collection, type Entry } from './collection.js';
import * as build from './objects.js';
import { ID_PREFIX, RESOURCES, type ResourceName } from './objects.js';
import { pick, prng, seededId } from './random.js';

export type Mode = 'test' | 'live';
export type ResourceCounts = Record<ResourceName, number>;

export const DEFAULT_COUNTS: ResourceCounts = {
  balance_transactions: 2_000,
  charges: 1_500,
  refunds: 150,
  invoices: 300,
  credit_notes: 40,
  disputes: 20,
  customers: 50,
  products: 6,
  prices: 12,
  coupons: 4,
  // One payout for each balance transaction of type `payout` (-1); a count asks for at most
  // that many (the others' sources then name no object: a benchmark's lean account).
  payouts: -1,
  subscriptions: 20,
  // One for each seeded invoice (-1); a count asks for at most that many.
  invoice_payments: -1,
  // One for every fourth subscription (-1): an account without subscriptions has none.
  subscription_schedules: -1,
};

export type AnyObject = { id: string; created: number; object: string };

const DAY = 86_400;
const CURRENCY = 'usd';

/** FNV-1a: a cheap, stable number from an id, so a seeded object's fields follow from its id. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * One account's data in one mode: six collections seeded deterministically
 * from (seed, account, mode), spread evenly over the year before `anchor`,
 * plus the events created since the sandbox started.
 */
export class AccountData {
  readonly collections: { [R in ResourceName]: Collection<AnyObject> };
  readonly events: Collection<AnyObject>;
  /** Test clocks (test mode only), made by activity: `/v1/test_helpers/test_clocks`. */
  readonly testClocks = new Collection<AnyObject>(() => {
    throw new Error('test clocks are always stored');
  });
  /**
   * Discounts coupons made (Stripe has no list of them: a customer embeds its own, a
   * subscription or invoice names its by id, expandable); removed ones are gone.
   */
  readonly discounts = new Collection<AnyObject>(() => {
    throw new Error('discounts are always stored');
  });
  readonly livemode: boolean;
  /** What was seeded of each resource (payouts: one per balance transaction of type payout). */
  readonly counts: ResourceCounts;
  private readonly customers: string[];
  /** The balance transaction of each seeded payout, and the payout of each such transaction. */
  private readonly payoutBt: number[] = [];
  private readonly btPayout = new Map<number, number>();
  readonly invoiceLines = new Map<string, Stripe.InvoiceLineItem[]>();
  /** Lines of credit notes made after seeding. */
  readonly creditNoteLines = new Map<string, Stripe.CreditNoteLineItem[]>();
  /** Every item of subscriptions with more than Stripe embeds (others: the embedded ones are all). */
  readonly subscriptionItems = new Map<string, Stripe.SubscriptionItem[]>();

  constructor(
    readonly accountId: string,
    readonly mode: Mode,
    counts: Partial<ResourceCounts>,
    seed: string,
    private readonly anchor: number,
    /** The sandbox's clock (unix seconds). */
    now: () => number = () => Math.floor(Date.now() / 1000),
  ) {
    this.livemode = mode === 'live';
    const base = `${seed}|${accountId}|${mode}`;
    this.counts = { ...DEFAULT_COUNTS, ...counts };
    const payoutsWanted = this.counts.payouts < 0 ? Number.POSITIVE_INFINITY : this.counts.payouts;
    // Which balance transactions are payouts follows from the counts alone (see btRole).
    const partner = (j: number) => {
      const slot = j % 10;
      const turn = Math.floor(j / 10);
      if (slot < 7) return turn * 7 + slot < this.counts.charges;
      if (slot === 7) return turn < this.counts.refunds;
      return slot === 8 && turn < this.counts.disputes;
    };
    for (let j = 0; j < this.counts.balance_transactions && this.payoutBt.length < payoutsWanted; j++) {
      if (partner(j)) continue;
      this.btPayout.set(j, this.payoutBt.length);
      this.payoutBt.push(j);
    }
    this.counts.payouts = this.payoutBt.length;
    const schedules = Math.ceil(this.counts.subscriptions / 4);
    this.counts.subscription_schedules =
      this.counts.subscription_schedules < 0
        ? schedules
        : Math.min(this.counts.subscription_schedules, schedules);
    this.counts.invoice_payments =
      this.counts.invoice_payments < 0
        ? this.counts.invoices
        : Math.min(this.counts.invoice_payments, this.counts.invoices);
    this.collections = {
      // Pending until `available_on`, then available: Stripe sends no event for that change.
      balance_transactions: new Collection(
        (e) => this.balanceTransaction(e),
        (bt) => {
          const availableOn = (bt as { available_on?: number }).available_on ?? 0;
          const status = now() >= availableOn ? 'available' : 'pending';
          return (bt as { status?: string }).status === status ? bt : { ...bt, status };
        },
      ),
      charges: new Collection((e) => this.charge(e)),
      refunds: new Collection((e) => this.refund(e)),
      invoices: new Collection((e) => this.invoice(e)),
      credit_notes: new Collection((e) => this.creditNote(e)),
      disputes: new Collection((e) => this.dispute(e)),
      customers: new Collection((e) => this.customerObject(e)),
      products: new Collection((e) => this.product(e)),
      prices: new Collection((e) => this.price(e)),
      coupons: new Collection((e) => this.coupon(e)),
      payouts: new Collection((e) => this.payout(e)),
      // A subscription shows its items' prices as they are now: archived or renamed since, it
      // says so at once (and Stripe sends only `price.updated`).
      subscriptions: new Collection(
        (e) => this.subscription(e),
        (sub) => this.withCurrentPrices(sub),
      ),
      invoice_payments: new Collection((e) => this.invoicePayment(e)),
      subscription_schedules: new Collection((e) => this.subscriptionSchedule(e)),
    };
    this.events = new Collection<AnyObject>(() => {
      throw new Error('events are always stored');
    });
    const span = 365 * DAY;
    const createdAt = (seq: number, n: number) => anchor - span + Math.floor(((seq + 0.5) * span) / n);
    for (const resource of RESOURCES) {
      const n = this.counts[resource];
      const ids = prng(`${base}|${resource}`);
      const collection = this.collections[resource];
      for (let seq = 0; seq < n; seq++) {
        // A payout is made when its balance transaction is.
        const created =
          resource === 'payouts'
            ? createdAt(this.payoutBt[seq] as number, this.counts.balance_transactions)
            : resource === 'invoice_payments'
              ? createdAt(seq, this.counts.invoices) // made with its invoice
              : createdAt(seq, n);
        collection.addSeeded({ id: seededId(ID_PREFIX[resource], ids), created, seq });
      }
    }
    // The seeded customers are the ones charges and invoices name; without any, made-up ids.
    const next = prng(`${base}|customer-ids`);
    this.customers =
      this.counts.customers > 0
        ? this.collections.customers.entries.map((e) => e.id)
        : Array.from({ length: 50 }, () => seededId('cus', next, 14));
  }

  /** A seeded object's reference to another: among the seeded ones only, so new activity never changes it. */
  private ref(resource: ResourceName, seq: number, multiplier: number): string {
    const seeded = this.counts[resource];
    if (seeded === 0) return seededId(ID_PREFIX[resource], prng(`${this.accountId}|${resource}|${seq}`));
    return (this.collections[resource].entries[(seq * multiplier) % seeded] as Entry).id;
  }

  private amount(id: string): number {
    return 500 + (hash(id) % 49_500);
  }

  private customer(id: string): string {
    return this.customers[hash(id) % this.customers.length] as string;
  }

  // --- How the seeded objects point at each other -------------------------------------
  // Consistent wherever both ends exist: a charge's balance transaction has that charge as its
  // source, a refund raises its charge's amount_refunded (refunded when whole) and has its own
  // balance transaction, a dispute sets its charge's disputed and carries its balance
  // transaction. Balance transactions take turns by position (seven charges, a refund, a
  // dispute's adjustment, a payout in every ten); one whose partner was not seeded is a payout.
  // Refunds and disputes belong to charges spread evenly over the same year, each after its
  // charge. (Seeded times are spread evenly per resource, so a balance transaction's `created`
  // is not its source's.)

  private entry(resource: ResourceName, index: number): Entry | undefined {
    return index >= 0 && index < this.counts[resource]
      ? (this.collections[resource].entries[index] as Entry)
      : undefined;
  }

  private spread(index: number, from: ResourceName, to: ResourceName): number {
    return Math.floor((index * this.counts[to]) / Math.max(1, this.counts[from]));
  }

  /** The seeded objects of `of` that belong to `owner`'s entry at `index` (the inverse of `spread`). */
  private owned(index: number, owner: ResourceName, of: ResourceName): number[] {
    const n = this.counts[owner];
    const m = this.counts[of];
    if (n === 0) return [];
    const out: number[] = [];
    for (let i = Math.ceil((index * m) / n); i < m && Math.floor((i * n) / m) === index; i++) out.push(i);
    return out;
  }

  private chargeBt(k: number) {
    return this.entry('balance_transactions', Math.floor(k / 7) * 10 + (k % 7));
  }

  private btRole(j: number): { type: Stripe.BalanceTransaction.Type; source?: Entry } {
    const slot = j % 10;
    const turn = Math.floor(j / 10);
    const source =
      slot < 7
        ? this.entry('charges', turn * 7 + slot)
        : slot === 7
          ? this.entry('refunds', turn)
          : slot === 8
            ? this.entry('disputes', turn)
            : undefined;
    if (!source) return { type: 'payout' };
    return { type: slot < 7 ? 'charge' : slot === 7 ? 'refund' : 'adjustment', source };
  }

  private chargeAmount(k: number): number {
    const charge = this.entry('charges', k);
    return charge ? this.amount(charge.id) : 0;
  }

  /** A refund's amount: every fourth charge with one refund is refunded whole, others in part. */
  private refundAmount(r: number): number {
    const k = this.spread(r, 'refunds', 'charges');
    const siblings = this.owned(k, 'charges', 'refunds');
    const amount = this.chargeAmount(k);
    if (siblings.length === 1 && k % 4 === 0) return amount;
    return Math.max(1, Math.floor(amount / 2 ** (siblings.indexOf(r) + 2)));
  }

  private charge(e: Entry): AnyObject {
    const refunds = this.owned(e.seq, 'charges', 'refunds');
    return build.charge({
      id: e.id,
      created: e.created,
      livemode: this.livemode,
      amount: this.amount(e.id),
      currency: CURRENCY,
      customer: this.customer(e.id),
      balanceTransaction: this.chargeBt(e.seq)?.id ?? null,
      description: `Order ${1000 + e.seq}`,
      amountRefunded: refunds.reduce((sum, r) => sum + this.refundAmount(r), 0),
      disputed: this.owned(e.seq, 'charges', 'disputes').length > 0,
    }) as AnyObject;
  }

  private balanceTransaction(e: Entry): AnyObject {
    const { type, source } = this.btRole(e.seq);
    const amount =
      type === 'charge'
        ? this.amount(source?.id as string)
        : type === 'refund'
          ? -this.refundAmount(source?.seq as number)
          : type === 'adjustment'
            ? -this.chargeAmount(this.spread(source?.seq as number, 'disputes', 'charges'))
            : -this.amount(e.id);
    return build.balanceTransaction({
      id: e.id,
      created: e.created,
      livemode: this.livemode,
      amount,
      currency: CURRENCY,
      source:
        source?.id ?? this.entry('payouts', this.btPayout.get(e.seq) ?? -1)?.id ?? seededId('po', prng(e.id)),
      type,
      fee: type === 'charge' ? Math.round(amount * 0.029) + 30 : type === 'adjustment' ? 1500 : 0,
      // Seeded ones are available by the anchor (so what is pending does not depend on the hour);
      // those of new activity are pending for two days.
      availableOn: Math.min(e.created + 2 * DAY, this.anchor),
    }) as AnyObject;
  }

  private refund(e: Entry): AnyObject {
    const charge = this.entry('charges', this.spread(e.seq, 'refunds', 'charges'));
    return build.refund({
      id: e.id,
      created: e.created,
      amount: this.refundAmount(e.seq),
      currency: CURRENCY,
      charge: charge?.id ?? seededId('ch', prng(`${e.id}|charge`)),
      balanceTransaction: this.entry('balance_transactions', e.seq * 10 + 7)?.id ?? null,
    }) as unknown as AnyObject;
  }

  /** Every 40th invoice has more lines than Stripe embeds, to exercise `/lines` paging. */
  lineCount(seq: number): number {
    return seq % 40 === 7 ? 14 : 1 + (seq % 3);
  }

  lines(e: Entry): Stripe.InvoiceLineItem[] {
    const existing = this.invoiceLines.get(e.id);
    if (existing) return existing;
    const next = prng(`${e.id}|lines`);
    return Array.from({ length: this.lineCount(e.seq) }, (_, i) =>
      build.invoiceLine({
        id: seededId('il', next),
        invoice: e.id,
        livemode: this.livemode,
        amount: 1_000 + ((hash(e.id) + i * 977) % 20_000),
        currency: CURRENCY,
        period: { start: e.created - 30 * DAY, end: e.created },
        description: `Subscription item ${i + 1}`,
        ...this.priceRef(hash(e.id) + i),
      }),
    );
  }

  private invoice(e: Entry): AnyObject {
    const customer = this.customer(e.id);
    return build.invoice({
      id: e.id,
      created: e.created,
      livemode: this.livemode,
      amount: 0,
      currency: CURRENCY,
      customer,
      customerName: `Customer ${customer.slice(-4)}`,
      number: `SBX-${String(e.seq + 1).padStart(6, '0')}`,
      status: e.seq % 9 === 4 ? 'open' : 'paid',
      lines: this.lines(e),
    }) as unknown as AnyObject;
  }

  private creditNote(e: Entry): AnyObject {
    const invoiceId = this.ref('invoices', e.seq, 3);
    return build.creditNote({
      id: e.id,
      created: e.created,
      livemode: this.livemode,
      currency: CURRENCY,
      customer: this.customer(invoiceId),
      invoice: invoiceId,
      number: `SBX-CN-${String(e.seq + 1).padStart(5, '0')}`,
      lines: this.creditLines(e, invoiceId),
    }) as unknown as AnyObject;
  }

  /**
   * A seeded credit note's lines, each crediting a line of its own invoice: one line, or
   * (every fifth) 25, more than Stripe embeds.
   */
  private creditLines(e: Entry, invoiceId: string): build.CreditNoteLine[] {
    const invoiceLines = this.invoiceLinesOf(invoiceId) ?? [];
    const next = prng(`${e.id}|cn`);
    const count = e.seq % 5 === 0 ? 25 : 1;
    const each = Math.max(1, Math.floor(this.amount(e.id) / 4 / count));
    return Array.from({ length: count }, (_, i) => ({
      id: seededId('cnli', next),
      invoiceLineId: invoiceLines[i % Math.max(1, invoiceLines.length)]?.id ?? seededId('il', next),
      amount: each,
    }));
  }

  /** Every line of a credit note (the embedded ones first), or undefined when there is no such note. */
  /** A subscription's items in their own order, as `/v1/subscription_items` pages them. */
  subscriptionItemsOf(subscriptionId: string): Stripe.SubscriptionItem[] | undefined {
    const stored = this.subscriptionItems.get(subscriptionId);
    if (stored) return stored;
    const sub = this.collections.subscriptions.get(subscriptionId) as unknown as
      | Stripe.Subscription
      | undefined;
    return sub?.items.data;
  }

  creditNoteLinesOf(creditNoteId: string): Stripe.CreditNoteLineItem[] | undefined {
    const stored = this.creditNoteLines.get(creditNoteId);
    if (stored) return stored;
    const position = this.collections.credit_notes.position(creditNoteId);
    if (position === undefined) return undefined;
    const entry = this.collections.credit_notes.entries[position] as Entry;
    const note = this.collections.credit_notes.at(position) as unknown as Stripe.CreditNote;
    return this.creditLines(entry, String(note.invoice)).map((line) =>
      build.creditNoteLine({ ...line, livemode: this.livemode }),
    );
  }

  private dispute(e: Entry): AnyObject {
    const k = this.spread(e.seq, 'disputes', 'charges');
    const charge = this.entry('charges', k);
    const bt = this.entry('balance_transactions', e.seq * 10 + 8);
    return build.dispute({
      id: e.id,
      created: e.created,
      livemode: this.livemode,
      amount: this.chargeAmount(k) || this.amount(e.id),
      currency: CURRENCY,
      charge: charge?.id ?? seededId('ch', prng(`${e.id}|charge`)),
      // Stripe embeds the dispute's balance transactions whole.
      balanceTransaction: bt
        ? (this.collections.balance_transactions.at(bt.seq) as unknown as Stripe.BalanceTransaction)
        : null,
    }) as AnyObject;
  }

  // --- The catalogue and payouts ---------------------------------------------------------
  // Customers are the ones charges, invoices and credit notes name. Each price belongs to a
  // product (price i to product i mod products), a product's default price is its first; an
  // invoice line bills a seeded price. A payout is the source of a balance transaction of type
  // payout, and names it back.

  /** A seeded price (and its product) for a line, when the account has prices. */
  priceRef(n: number): { price?: { id: string; product: string } } {
    const count = this.counts.prices;
    if (count === 0) return {};
    const seq = n % count;
    return {
      price: { id: (this.entry('prices', seq) as Entry).id, product: this.productOfPrice(seq) },
    };
  }

  private productOfPrice(seq: number): string {
    return this.counts.products > 0
      ? (this.entry('products', seq % this.counts.products) as Entry).id
      : seededId('prod', prng(`${this.accountId}|product-of|${seq}`));
  }

  private customerObject(e: Entry): AnyObject {
    return build.customer({
      id: e.id,
      created: e.created,
      livemode: this.livemode,
      name: `Customer ${e.id.slice(-4)}`,
      email: `billing+${e.id.slice(-6).toLowerCase()}@example.com`,
      currency: CURRENCY,
    }) as unknown as AnyObject;
  }

  private product(e: Entry): AnyObject {
    return build.product({
      id: e.id,
      created: e.created,
      livemode: this.livemode,
      name: `Plan ${e.seq + 1}`,
      defaultPrice: this.entry('prices', e.seq)?.id ?? null,
    }) as unknown as AnyObject;
  }

  private price(e: Entry): AnyObject {
    return build.price({
      id: e.id,
      created: e.created,
      livemode: this.livemode,
      product: this.productOfPrice(e.seq),
      currency: CURRENCY,
      unitAmount: 1_000 + (hash(e.id) % 20) * 500,
      recurring: e.seq % 3 === 2 ? null : { interval: e.seq % 2 === 0 ? 'month' : 'year', intervalCount: 1 },
      // Every fifth price past the products' default ones is archived: Stripe's list leaves it out.
      active: !(e.seq % 5 === 4 && e.seq >= this.counts.products),
    }) as unknown as AnyObject;
  }

  private coupon(e: Entry): AnyObject {
    const percent = e.seq % 2 === 0;
    const durations = ['forever', 'once', 'repeating'] as const;
    return build.coupon({
      id: e.id,
      created: e.created,
      livemode: this.livemode,
      percentOff: percent ? 10 + (e.seq % 4) * 5 : null,
      amountOff: percent ? null : 500 * (1 + (e.seq % 3)),
      currency: CURRENCY,
      duration: durations[e.seq % 3] as (typeof durations)[number],
      durationInMonths: 3,
    }) as unknown as AnyObject;
  }

  /**
   * A seeded subscription: a seeded customer on one or two seeded recurring prices, in its
   * current billing period; every seventh was canceled (Stripe lists those only when asked
   * for `status=all`).
   */
  private withCurrentPrices(sub: AnyObject): AnyObject {
    const items = (sub as { items?: { data?: Array<Record<string, unknown>> } }).items;
    if (!items?.data?.length) return sub;
    const data = items.data.map((item) => {
      const embedded = item.price as { id?: string } | undefined;
      const current = embedded?.id ? this.collections.prices.get(embedded.id) : undefined;
      if (!current) return item;
      const plan = item.plan as Record<string, unknown> | undefined;
      // The legacy `plan` mirrors the price's `active`.
      const active = (current as unknown as { active: boolean }).active;
      return { ...item, price: current, ...(plan ? { plan: { ...plan, active } } : {}) };
    });
    return { ...sub, items: { ...items, data } } as AnyObject;
  }

  private subscription(e: Entry): AnyObject {
    const recurring = Array.from({ length: this.counts.prices }, (_, i) => i).filter((i) => i % 3 !== 2);
    const items = Array.from({ length: recurring.length === 0 ? 0 : 1 + (e.seq % 2) }, (_, i) => {
      const p = recurring[(e.seq + i) % recurring.length] as number;
      return {
        id: seededId('si', prng(`${e.id}|item|${i}`)),
        created: e.created,
        price: this.collections.prices.at(p) as unknown as Stripe.Price,
        quantity: 1 + ((e.seq + i) % 3),
      };
    });
    const interval = items[0]?.price.recurring?.interval === 'year' ? 365 * DAY : 30 * DAY;
    const canceled = e.seq % 7 === 3;
    const at = canceled ? Math.min(e.created + interval, this.anchor) : this.anchor;
    const start = e.created + Math.floor((at - e.created) / interval) * interval;
    return build.subscription({
      id: e.id,
      created: e.created,
      livemode: this.livemode,
      customer: this.customer(e.id),
      currency: CURRENCY,
      items,
      period: { start, end: start + interval },
      status: canceled ? 'canceled' : 'active',
      canceledAt: canceled ? at : null,
      latestInvoice: null,
    }) as unknown as AnyObject;
  }

  /** The payment of the seeded invoice of the same position: paid by a seeded charge, unless the invoice is open. */
  private invoicePayment(e: Entry): AnyObject {
    // As seeded (a later change to the invoice comes with its own events).
    const invoice = this.invoice(
      this.collections.invoices.entries[e.seq] as Entry,
    ) as unknown as Stripe.Invoice;
    const paid = invoice.status === 'paid';
    return build.invoicePayment({
      id: e.id,
      created: e.created,
      livemode: this.livemode,
      invoice: invoice.id as string,
      currency: invoice.currency,
      amount: invoice.amount_due,
      charge: paid && this.counts.charges > 0 ? this.ref('charges', e.seq, 7) : null,
      paidAt: paid ? (invoice.status_transitions.paid_at ?? e.created) : null,
    }) as unknown as AnyObject;
  }

  /**
   * A seeded schedule: it manages every fourth seeded subscription (the current period, then a
   * second phase of one more seat).
   */
  private subscriptionSchedule(e: Entry): AnyObject {
    const subs = this.counts.subscriptions;
    const sub =
      subs > 0
        ? // As seeded: what activity later did to the subscription does not rewrite its schedule.
          (this.subscription(
            this.collections.subscriptions.entries[(e.seq * 4) % subs] as Entry,
          ) as unknown as Stripe.Subscription)
        : undefined;
    const item = sub?.items.data[0];
    const start = item?.current_period_start ?? this.anchor;
    const end = item?.current_period_end ?? this.anchor + 30 * DAY;
    const price = item?.price.id ?? seededId('price', prng(`${e.id}|price`));
    const customer = sub
      ? typeof sub.customer === 'string'
        ? sub.customer
        : sub.customer.id
      : this.customer(e.id);
    const quantity = item?.quantity ?? 1;
    return build.subscriptionSchedule({
      id: e.id,
      created: e.created,
      livemode: this.livemode,
      customer,
      subscription: sub?.id ?? null,
      status: !sub ? 'not_started' : sub.status === 'canceled' ? 'canceled' : 'active',
      canceledAt: sub?.status === 'canceled' ? sub.canceled_at : null,
      now: this.anchor,
      phases: [
        { start, end, price, quantity, currency: CURRENCY },
        { start: end, end: end + (end - start), price, quantity: quantity + 1, currency: CURRENCY },
      ],
    }) as unknown as AnyObject;
  }

  private payout(e: Entry): AnyObject {
    const j = this.payoutBt[e.seq] as number;
    const bt = this.collections.balance_transactions.at(j) as unknown as Stripe.BalanceTransaction;
    return build.payout({
      id: e.id,
      created: e.created,
      livemode: this.livemode,
      amount: -bt.amount,
      currency: CURRENCY,
      balanceTransaction: bt.id,
      arrivalDate: Math.min(e.created + 2 * DAY, this.anchor),
      status: 'paid',
    }) as unknown as AnyObject;
  }

  /** Invoice lines in their own order (not newest first), as `/v1/invoices/:id/lines` pages them. */
  invoiceLinesOf(invoiceId: string): Stripe.InvoiceLineItem[] | undefined {
    const position = this.collections.invoices.position(invoiceId);
    if (position === undefined) return undefined;
    const entry = this.collections.invoices.entries[position] as Entry;
    return this.lines(entry);
  }

  randomCustomer(next: () => number): string {
    return pick(this.customers, next);
  }
}
