import Stripe from 'stripe';
import { LINE_RESOURCE_NAMES, LISTED_RESOURCES, RECORD_RESOURCES } from '../../shared/records/names.js';
import {
  eventTypesRead,
  LINE_RESOURCES,
  linesOf,
  RESOURCES,
  recordAttributes,
  resourcesTouchedBy,
} from '../../shared/records/registry.js';
import { STRIPE_API_VERSION } from '../../shared/stripe/api-version.js';

describe('the resource registry', () => {
  it.each(RESOURCES.map((def) => [def.name, def] as const))(
    '%s lists its events in one request: /v1/events takes at most 20 types',
    (_name, def) => {
      const read = eventTypesRead(def);
      expect(read.length).toBeLessThanOrEqual(20);
      expect(new Set(read).size).toBe(read.length);
    },
  );

  it('names every resource it defines, in its order, where a function can read the names alone', () => {
    expect(RESOURCES.map((def) => def.name)).toEqual(LISTED_RESOURCES);
    expect(LINE_RESOURCES.map((def) => def.name)).toEqual(LINE_RESOURCE_NAMES);
    expect(RECORD_RESOURCES).toEqual([...RESOURCES, ...LINE_RESOURCES].map((def) => def.name));
  });

  it("a dispute's events read its charge again: Stripe sends no charge event when a dispute sets `disputed`", () => {
    for (const type of ['charge.dispute.created', 'charge.dispute.closed'])
      expect(resourcesTouchedBy(type).map((def) => def.name)).toEqual(['charges']);
    const charges = RESOURCES.find((def) => def.name === 'charges');
    expect(charges?.touchedBy?.id?.({ id: 'dp_1', object: 'dispute', charge: 'ch_1' })).toBe('ch_1');
    expect(charges?.touchedBy?.id?.({ id: 'dp_1', object: 'dispute', charge: { id: 'ch_2' } })).toBe('ch_2');
    expect(resourcesTouchedBy('charge.updated')).toEqual([]);
    // A price archived or renamed is so in every subscription of it, which Stripe lists by price.
    expect(resourcesTouchedBy('price.updated').map((def) => def.name)).toEqual(['subscriptions']);
  });

  it('only a resource without events may be re-read for changes Stripe sends no event for', () => {
    for (const def of RESOURCES) if (def.unsettled) expect(def.eventTypes).toHaveLength(0);
  });
});

describe('queryable attributes', () => {
  const def = (name: string) => RESOURCES.find((r) => r.name === name) as (typeof RESOURCES)[number];

  it('an invoice keeps its totals, taxes, discounts, subscription (in `parent` since 2025) and status transitions', () => {
    const invoice = {
      id: 'in_1',
      object: 'invoice',
      total: 1100,
      subtotal: 1200,
      total_excluding_tax: 1000,
      total_taxes: [{ amount: 60 }, { amount: 40 }],
      total_discount_amounts: [{ amount: 200, discount: 'di_1' }],
      status: 'void',
      customer: 'cus_1',
      billing_reason: 'subscription_cycle',
      parent: { type: 'subscription_details', subscription_details: { subscription: 'sub_1' } },
      status_transitions: { finalized_at: 10, paid_at: null, voided_at: 20, marked_uncollectible_at: null },
    };
    expect(def('invoices').attributes(invoice)).toMatchObject({
      total: 1100,
      subtotal: 1200,
      totalExcludingTax: 1000,
      totalTax: 100,
      totalDiscount: 200,
      status: 'void',
      customer: 'cus_1',
      subscription: 'sub_1',
      billingReason: 'subscription_cycle',
      finalizedAt: 10,
      paidAt: null,
      voidedAt: 20,
    });
    // Older API versions: the subscription at the top, and no tax list at all.
    expect(
      def('invoices').attributes({
        id: 'in_2',
        object: 'invoice',
        subscription: { id: 'sub_2' },
        parent: null,
      }),
    ).toMatchObject({ subscription: 'sub_2', totalTax: null, totalDiscount: null });
  });

  it('a price keeps its product, recurring interval and count; a payout its balance transaction', () => {
    expect(
      def('prices').attributes({
        id: 'price_1',
        object: 'price',
        product: 'prod_1',
        unit_amount: 500,
        type: 'recurring',
        recurring: { interval: 'year', interval_count: 2 },
      }),
    ).toMatchObject({ product: 'prod_1', unitAmount: 500, interval: 'year', intervalCount: 2 });
    expect(
      def('prices').attributes({ id: 'price_2', object: 'price', type: 'one_time', recurring: null }),
    ).toMatchObject({ interval: null, intervalCount: null });
    expect(
      def('payouts').attributes({
        id: 'po_1',
        object: 'payout',
        balance_transaction: 'txn_1',
        status: 'paid',
      }),
    ).toMatchObject({ balanceTransaction: 'txn_1', status: 'paid' });
  });

  it('every resource names the permission its reads need', () => {
    for (const r of RESOURCES)
      expect([r.name, r.permission]).toEqual([r.name, expect.stringMatching(/_read$/)]);
  });
});

describe('the Stripe API version', () => {
  it('is pinned, and is the one this stripe-node is typed for (an upgrade that moves it fails here)', () => {
    expect(STRIPE_API_VERSION).toMatch(/^\d{4}-\d{2}-\d{2}\.[a-z]+$/);
    expect(STRIPE_API_VERSION).toBe((Stripe as unknown as { API_VERSION: string }).API_VERSION);
  });
});

describe('lines as records', () => {
  it('an invoice line keeps its period, amounts, discounts, taxes, proration and what it bills (current and older shapes)', () => {
    const line = {
      id: 'il_1',
      object: 'line_item',
      invoice: 'in_1',
      amount: 1000,
      subtotal: 1200,
      currency: 'usd',
      period: { start: 100, end: 200 },
      quantity: 2,
      discount_amounts: [
        { amount: 150, discount: 'di_1' },
        { amount: 50, discount: 'di_2' },
      ],
      taxes: [{ amount: 80, type: 'tax_rate_details' }],
      parent: {
        type: 'subscription_item_details',
        subscription_item_details: {
          proration: true,
          subscription: 'sub_1',
          subscription_item: 'si_1',
          invoice_item: null,
        },
      },
      pricing: { type: 'price_details', price_details: { price: 'price_1', product: 'prod_1' } },
    };
    expect(recordAttributes('invoice_line_items', line, 'in_1')).toEqual({
      invoice: 'in_1',
      amount: 1000,
      subtotal: 1200,
      currency: 'usd',
      periodStart: 100,
      periodEnd: 200,
      discountTotal: 200,
      taxTotal: 80,
      quantity: 2,
      proration: true,
      price: 'price_1',
      product: 'prod_1',
      subscription: 'sub_1',
      subscriptionItem: 'si_1',
      invoiceItem: null,
      lineType: 'subscription_item_details',
    });
    // Before 2025: the price, subscription and proration on the line itself, taxes as tax_amounts.
    expect(
      recordAttributes(
        'invoice_line_items',
        {
          id: 'il_2',
          object: 'line_item',
          type: 'subscription',
          proration: false,
          price: { id: 'price_2', product: 'prod_2' },
          subscription: 'sub_2',
          subscription_item: 'si_2',
          tax_amounts: [{ amount: 10 }, { amount: 5 }],
        },
        'in_2',
      ),
    ).toMatchObject({
      invoice: 'in_2',
      proration: false,
      price: 'price_2',
      product: 'prod_2',
      subscription: 'sub_2',
      subscriptionItem: 'si_2',
      taxTotal: 15,
      lineType: 'subscription',
    });
  });

  it('an invoice line reads the parent its `type` names, not the other kind', () => {
    expect(
      recordAttributes(
        'invoice_line_items',
        {
          id: 'il_3',
          object: 'line_item',
          parent: {
            type: 'invoice_item_details',
            invoice_item_details: { invoice_item: 'ii_3', proration: false, subscription: null },
            subscription_item_details: {
              subscription: 'sub_other',
              subscription_item: 'si_other',
              proration: true,
            },
          },
        },
        'in_3',
      ),
    ).toMatchObject({ invoiceItem: 'ii_3', proration: false, subscription: null, subscriptionItem: null });
  });

  it('a credit-note line keeps its credit note (which the line itself does not name) and the invoice line it credits', () => {
    expect(
      recordAttributes(
        'credit_note_line_items',
        {
          id: 'cnli_1',
          object: 'credit_note_line_item',
          amount: 250,
          invoice_line_item: 'il_1',
          discount_amount: 0,
          discount_amounts: [],
          quantity: 1,
          type: 'invoice_line_item',
          taxes: null,
        },
        'cn_1',
      ),
    ).toEqual({
      creditNote: 'cn_1',
      invoiceLineItem: 'il_1',
      amount: 250,
      discountTotal: 0,
      taxTotal: null,
      quantity: 1,
      lineType: 'invoice_line_item',
    });
  });

  it('every resource that holds lines has a line resource, and every line resource a listed parent', () => {
    for (const def of RESOURCES) expect(Boolean(def.listLines)).toBe(Boolean(linesOf(def.name)));
    for (const line of LINE_RESOURCES) expect(RESOURCES.some((def) => def.name === line.parent)).toBe(true);
  });
});
