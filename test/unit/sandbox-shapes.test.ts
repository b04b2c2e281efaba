import { AccountData } from '../../local/stripe-sandbox/account-data.js';
import {
  LATEST_API_VERSION,
  OLD_API_VERSION,
  renderAt,
  renderEvent,
} from '../../local/stripe-sandbox/api-versions.js';
import { Sandbox } from '../../local/stripe-sandbox/sandbox.js';
import vendored from '../../local/stripe-sandbox/stripe-fixtures.json';

/**
 * The sandbox's objects must carry the fields of Stripe's own examples: the
 * copy of Stripe's OpenAPI fixtures that scripts/vendor-stripe-fixtures.mjs
 * writes into the repo (a fresh clone has nothing beside it to read).
 */
function load(): Record<string, Record<string, unknown>> {
  return (vendored as { resources: Record<string, Record<string, unknown>> }).resources;
}

const keys = (o: object) => Object.keys(o).sort();

describe("sandbox objects have Stripe's fields", () => {
  const fixtures = load();
  const data = new AccountData(
    'acct_1ShapeTest000001',
    'test',
    {
      balance_transactions: 30,
      charges: 30,
      refunds: 5,
      invoices: 50,
      credit_notes: 5,
      disputes: 5,
    },
    'seed',
    1_790_000_000,
  );

  it.each([
    ['balance_transactions', 'balance_transaction'],
    ['charges', 'charge'],
    ['refunds', 'refund'],
    ['invoices', 'invoice'],
    ['credit_notes', 'credit_note'],
    ['disputes', 'dispute'],
    ['customers', 'customer'],
    ['products', 'product'],
    ['prices', 'price'],
    ['coupons', 'coupon'],
    ['payouts', 'payout'],
    ['subscriptions', 'subscription'],
  ] as const)('%s match the %s fixture field for field', (resource, fixture) => {
    const object = data.collections[resource].at(0);
    // The fixture's charge still embeds `refunds`, which API versions since 2022-11-15 do not render.
    const removed: Record<string, string[]> = { charges: ['refunds'] };
    const expected = keys(fixtures[fixture] as object).filter((k) => !removed[resource]?.includes(k));
    expect(keys(object)).toEqual(expected);
    expect(object.object).toBe(fixture);
  });

  it("carries none of the examples' placeholders, and expandable fields are ids", () => {
    const placeholders = /obj_123|cnst_123|_1PgaftB7WZ01zgkW|sangeekp|client_secret/;
    for (const resource of Object.keys(data.collections) as Array<keyof typeof data.collections>) {
      for (let i = 0; i < data.collections[resource].size; i++) {
        const object = data.collections[resource].at(i) as Record<string, unknown>;
        expect(JSON.stringify(object)).not.toMatch(placeholders);
        for (const field of [
          'source',
          'charge',
          'customer',
          'invoice',
          'balance_transaction',
          'payment_intent',
        ]) {
          const value = object[field];
          if (value !== undefined && value !== null) expect(typeof value).toBe('string');
        }
      }
    }
  });

  it.each([
    [{ balance_transactions: 30, charges: 30, refunds: 5, invoices: 50, credit_notes: 5, disputes: 5 }],
    [{ balance_transactions: 430, charges: 370, refunds: 120, invoices: 60, credit_notes: 20, disputes: 11 }],
    [{ balance_transactions: 40, charges: 300, refunds: 400, invoices: 3, credit_notes: 9, disputes: 2 }],
  ])('links the seeded objects consistently wherever both ends exist (%o)', (counts) => {
    const account = new AccountData('acct_1ShapeLinks00001', 'test', counts, 'seed', 1_790_000_000);
    const all = <T>(resource: keyof typeof account.collections) =>
      Array.from({ length: account.collections[resource].size }, (_, i) =>
        account.collections[resource].at(i),
      ) as T[];
    type Obj = Record<string, unknown> & { id: string };
    const byId = (resource: keyof typeof account.collections) =>
      new Map(all<Obj>(resource).map((o) => [o.id, o]));
    const bts = byId('balance_transactions');
    const charges = byId('charges');
    const refunded = new Map<string, number>();
    for (const refund of all<Obj>('refunds')) {
      const charge = charges.get(refund.charge as string);
      expect(charge).toBeDefined();
      expect(refund.created as number).toBeGreaterThanOrEqual((charge?.created as number) - 86_400);
      refunded.set(
        charge?.id as string,
        (refunded.get(charge?.id as string) ?? 0) + (refund.amount as number),
      );
      if (refund.balance_transaction !== null) {
        const bt = bts.get(refund.balance_transaction as string);
        expect(bt).toMatchObject({ source: refund.id, type: 'refund', amount: -(refund.amount as number) });
      }
    }
    const disputed = new Set(all<Obj>('disputes').map((d) => d.charge as string));
    for (const charge of charges.values()) {
      expect(charge.amount_refunded).toBe(refunded.get(charge.id) ?? 0);
      expect(charge.amount_refunded as number).toBeLessThanOrEqual(charge.amount as number);
      expect(charge.refunded).toBe((charge.amount_refunded as number) >= (charge.amount as number));
      expect(charge.disputed).toBe(disputed.has(charge.id));
      if (charge.balance_transaction !== null) {
        const bt = bts.get(charge.balance_transaction as string);
        expect(bt).toMatchObject({ source: charge.id, type: 'charge', amount: charge.amount });
      }
    }
    for (const bt of bts.values()) {
      if (bt.type === 'charge') expect(charges.get(bt.source as string)?.balance_transaction).toBe(bt.id);
    }
    for (const dispute of all<Obj>('disputes')) {
      expect(charges.has(dispute.charge as string)).toBe(true);
      for (const bt of dispute.balance_transactions as Obj[])
        expect(bts.get(bt.id)).toMatchObject({ source: dispute.id, type: 'adjustment' });
    }
    for (const note of all<Obj>('credit_notes')) {
      const lines = new Set((account.invoiceLinesOf(note.invoice as string) ?? []).map((l) => l.id));
      for (const line of account.creditNoteLinesOf(note.id) ?? [])
        expect(lines.has(line.invoice_line_item as string)).toBe(true);
    }
    // The catalogue: customers named by charges and invoices exist; each price's product
    // exists and a product's default price is its own; invoice lines bill seeded prices.
    const customers = byId('customers');
    expect(customers.size).toBe(50);
    for (const charge of charges.values()) expect(customers.has(charge.customer as string)).toBe(true);
    for (const invoice of all<Obj>('invoices')) expect(customers.has(invoice.customer as string)).toBe(true);
    const products = byId('products');
    const prices = byId('prices');
    for (const price of prices.values()) expect(products.has(price.product as string)).toBe(true);
    for (const product of products.values())
      expect(prices.get(product.default_price as string)?.product).toBe(product.id);
    for (const invoice of all<Obj>('invoices').slice(0, 20))
      for (const line of account.invoiceLinesOf(invoice.id) ?? []) {
        const details = (line.pricing as { price_details?: { price: string; product: string } })
          .price_details;
        expect(prices.get(details?.price as string)?.product).toBe(details?.product);
      }
    // Every payout is the source of one balance transaction of type payout, and names it back.
    const payouts = byId('payouts');
    const payoutBts = [...bts.values()].filter((bt) => bt.type === 'payout');
    expect(payouts.size).toBe(payoutBts.length);
    for (const bt of payoutBts) {
      const payout = payouts.get(bt.source as string);
      expect(payout).toMatchObject({ balance_transaction: bt.id, amount: -(bt.amount as number) });
      expect(payout?.created).toBe(bt.created);
    }
  });

  it('renders a charge at an API version before 2022-11-15 with its refunds, at the latest without', () => {
    const charge = data.collections.charges.at(0);
    expect(renderAt(OLD_API_VERSION, charge)).toHaveProperty('refunds.object', 'list');
    expect(renderAt(LATEST_API_VERSION, charge)).not.toHaveProperty('refunds');
    const event = { id: 'evt_1', object: 'event', data: { object: charge } };
    expect(renderEvent(event, OLD_API_VERSION)).toMatchObject({
      api_version: OLD_API_VERSION,
      data: { object: { refunds: { object: 'list' } } },
    });
  });

  it('invoice lines, events and the account match theirs', () => {
    const sandbox = new Sandbox({ accounts: [{ id: 'acct_1ShapeTest000001', name: 'Shapes' }] });
    const invoice = data.collections.invoices.at(0) as unknown as { lines: { data: object[] } };
    expect(keys(invoice.lines.data[0] as object)).toEqual(keys(fixtures.line_item as object));
    const { events } = sandbox.createActivity('acct_1ShapeTest000001', 'test', 'charge');
    const event = sandbox
      .accountData('acct_1ShapeTest000001', 'test')
      ?.events.get(events[0] as string) as object;
    expect(keys(event)).toEqual([...keys(fixtures.event as object), 'account'].sort());
    expect(keys(sandbox.accountObject('acct_1ShapeTest000001') as object)).toEqual(
      keys(fixtures.account as object),
    );
  });

  it('generates the same objects from the same seed', () => {
    const again = new AccountData('acct_1ShapeTest000001', 'test', data.counts, 'seed', 1_790_000_000);
    expect(again.collections.charges.at(7)).toEqual(data.collections.charges.at(7));
    const other = new AccountData('acct_1ShapeTest000001', 'test', data.counts, 'other-seed', 1_790_000_000);
    expect(other.collections.charges.at(7).id).not.toBe(data.collections.charges.at(7).id);
  });
});
