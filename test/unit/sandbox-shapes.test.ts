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
