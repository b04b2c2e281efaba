import Stripe from 'stripe';
import { RESOURCES } from '../../shared/records/registry.js';
import { STRIPE_API_VERSION } from '../../shared/stripe/api-version.js';

describe('the resource registry', () => {
  it.each(RESOURCES.map((def) => [def.name, def] as const))(
    '%s lists its events in one request: /v1/events takes at most 20 types',
    (_name, def) => {
      expect(def.eventTypes.length).toBeLessThanOrEqual(20);
      expect(new Set(def.eventTypes).size).toBe(def.eventTypes.length);
    },
  );

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
