// Copies the Stripe example objects the sandbox builds on out of the team's
// fixtures (../shared/stripe-fixtures/fixtures3.json, from Stripe's public
// OpenAPI repository) into the repo, so `npm start` needs nothing outside it.
// Run again when the team's fixtures change (`node scripts/vendor-stripe-fixtures.mjs`);
// test/unit/sandbox-shapes.test.ts compares the sandbox's objects with this vendored
// copy, so no test needs anything outside the repo.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const source = process.env.STRIPE_FIXTURES ?? resolve(here, '../../shared/stripe-fixtures/fixtures3.json');
const wanted = [
  'account',
  'balance_transaction',
  'charge',
  'refund',
  'invoice',
  'line_item',
  'credit_note',
  'credit_note_line_item',
  'dispute',
  'event',
  'application',
  // The revenue objects (customers, catalogue, subscriptions, payments, payouts).
  'customer',
  'product',
  'price',
  'coupon',
  'discount',
  'subscription',
  'subscription_item',
  'subscription_schedule',
  'invoice_payment',
  'payout',
  'deleted_customer',
  'deleted_product',
  'deleted_price',
  'deleted_coupon',
  'deleted_discount',
  'deleted_invoice',
  'deleted_subscription_item',
  // Test mode's simulated time: customers and subscriptions on one are listed per clock.
  'test_helpers.test_clock',
];
const { resources } = JSON.parse(readFileSync(source, 'utf8'));
const out = {};
for (const name of wanted) {
  if (!resources[name]) throw new Error(`fixture ${name} missing from ${source}`);
  out[name] = resources[name];
}
writeFileSync(
  resolve(here, '../local/stripe-sandbox/stripe-fixtures.json'),
  `${JSON.stringify({ source: 'github.com/stripe/openapi fixtures3.json (commit f6c2a48)', resources: out }, null, 2)}\n`,
);
console.log(`vendored ${wanted.length} fixtures from ${source}`);
