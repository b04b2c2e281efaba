import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as z from 'zod/mini';
import {
  APP_MANIFEST,
  APP_MANIFEST_PATH,
  type AppManifest,
  appManifestSchema,
} from '../../local/stripe-sandbox/app-manifest.js';
import { permissionsPage } from '../../local/stripe-sandbox/install-page.js';
import { Sandbox } from '../../local/stripe-sandbox/sandbox.js';
import { routes } from '../../shared/http/routes.js';
import { type ListedResourceName, RESOURCES } from '../../shared/records/registry.js';

const ROOT = join(__dirname, '..', '..');
const onDisk = () => JSON.parse(readFileSync(join(ROOT, 'stripe-app.json'), 'utf8')) as AppManifest;

/**
 * What each resource the sync reads (shared/records/registry.ts) needs of Stripe's read-only
 * permissions, for its list, retrieve, lines and events (handbook: STRIPE.md). Nothing is read
 * with `expand[]` but a subscription's discounts, whose permission (coupon_read) the
 * subscriptions carry here. Typed by the registry's names: a new resource does not compile
 * until it is given its permissions here.
 */
const RESOURCE_PERMISSIONS: Record<ListedResourceName, readonly string[]> = {
  // Which permission covers balance transactions is unconfirmed: both, so either answer works.
  balance_transactions: ['balance_read', 'balance_transaction_source_read'],
  charges: ['charge_read'],
  refunds: ['charge_read'], // refunds and their charge.refund.* events come under charges
  invoices: ['invoice_read'],
  credit_notes: ['invoice_read'], // invoice_read covers credit notes
  disputes: ['dispute_read'],
  customers: ['customer_read'],
  products: ['product_read'],
  prices: ['plan_read'], // prices and plans share one permission
  coupons: ['coupon_read'],
  payouts: ['payout_read'],
  subscriptions: ['subscription_read', 'coupon_read'], // its list expands its discounts
  subscription_schedules: ['subscription_read'],
  invoice_payments: ['invoice_read'], // invoice payments come under invoices (unconfirmed)
  discounts: ['coupon_read'], // a coupon's doing; customer.discount.* events (unconfirmed)
};
/** `/v1/events` (the incremental pass), webhooks, and account.application.(de)authorized. */
const EVENTS_PERMISSION = 'event_read';

describe('stripe-app.json, the Stripe app manifest', () => {
  it("is in Stripe's format: an OAuth app with an id, version, name, icon, permissions and redirect URIs", () => {
    const manifest = onDisk();
    expect(APP_MANIFEST_PATH).toBe(join(ROOT, 'stripe-app.json'));
    expect(appManifestSchema.safeParse(manifest).success).toBe(true);
    expect(APP_MANIFEST).toEqual(manifest);
    expect(manifest).toMatchObject({
      id: 'com.defrr.stripe-connector',
      name: 'Defrr',
      stripe_api_access_type: 'oauth',
      distribution_type: 'public',
    });
    // The schema, stated again on its own so that loosening the module's schema fails here.
    const shape = z.strictObject({
      id: z.string().check(z.regex(/^[a-zA-Z0-9_\-.]+$/)),
      version: z.string().check(z.minLength(1)),
      name: z.string().check(z.minLength(1)),
      icon: z.string().check(z.regex(/^\.\/[^.]+\.png$/)),
      distribution_type: z.literal('public'),
      stripe_api_access_type: z.literal('oauth'),
      allowed_redirect_uris: z.array(z.url()).check(z.minLength(1)),
      permissions: z
        .array(
          z.strictObject({
            permission: z.string().check(z.regex(/^[a-z_]+_read$/)),
            purpose: z.string().check(z.trim(), z.minLength(1)),
          }),
        )
        .check(z.minLength(1)),
    });
    const parsed = shape.safeParse(manifest);
    expect(parsed.success ? [] : parsed.error.issues).toEqual([]);
  });

  it('has its icon: a 300×300 PNG at the path it names', () => {
    const png = readFileSync(join(ROOT, APP_MANIFEST.icon));
    expect(png.subarray(0, 8)).toEqual(Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]));
    expect(png.subarray(12, 16).toString('latin1')).toBe('IHDR');
    expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([300, 300]);
  });

  it('allows the deployed callback on the custom domain, over HTTPS; http only on a loopback host', () => {
    const callback = routes.find((r) => r.function === 'oauth-callback')?.path;
    expect(callback).toBe('/v1/integrations/stripe/callback');
    expect(APP_MANIFEST.allowed_redirect_uris[0]).toBe(`https://stripe.defrr.com${callback}`);
    for (const uri of APP_MANIFEST.allowed_redirect_uris) {
      const url = new URL(uri);
      expect(url.pathname).toBe(callback);
      expect(url.search + url.hash).toBe('');
      if (url.protocol !== 'https:') {
        expect(url.protocol).toBe('http:');
        expect(['localhost', '127.0.0.1', '[::1]']).toContain(url.hostname);
      }
    }
  });

  it('covers every resource the sync reads, and event_read', () => {
    expect(Object.keys(RESOURCE_PERMISSIONS).sort()).toEqual(RESOURCES.map((r) => r.name).sort());
    const granted = new Set(APP_MANIFEST.permissions.map((p) => p.permission));
    for (const def of RESOURCES) {
      for (const permission of RESOURCE_PERMISSIONS[def.name])
        expect([def.name, granted.has(permission)]).toEqual([def.name, true]);
      if (def.eventTypes.length > 0) expect(granted.has(EVENTS_PERMISSION)).toBe(true);
    }
    expect(granted.has(EVENTS_PERMISSION)).toBe(true);
  });

  it('asks for exactly what those reads need: nothing more, nothing broader, nothing that writes', () => {
    const needed = new Set([...Object.values(RESOURCE_PERMISSIONS).flat(), EVENTS_PERMISSION]);
    const asked = APP_MANIFEST.permissions.map((p) => p.permission);
    expect(new Set(asked).size).toBe(asked.length);
    expect([...asked].sort()).toEqual([...needed].sort());
    for (const permission of asked) {
      expect(permission).toMatch(/_read$/);
      expect(permission).not.toMatch(/write|secret|webhook|connected_account/);
    }
  });

  it.each([
    [
      'a write permission',
      (m: AppManifest) => m.permissions.push({ permission: 'charge_write', purpose: 'x' }),
    ],
    [
      'a permission without a purpose',
      (m: AppManifest) => m.permissions.push({ permission: 'payout_read', purpose: ' ' }),
    ],
    [
      'a repeated permission',
      (m: AppManifest) => m.permissions.push({ ...(m.permissions[0] as AppManifest['permissions'][0]) }),
    ],
    ['no permissions', (m: AppManifest) => m.permissions.splice(0)],
    ['another access type', (m: AppManifest) => Object.assign(m, { stripe_api_access_type: 'platform' })],
    [
      'an http redirect URI off loopback',
      (m: AppManifest) => m.allowed_redirect_uris.push('http://stripe.defrr.com/cb'),
    ],
    [
      'a redirect URI with credentials',
      (m: AppManifest) => m.allowed_redirect_uris.push('https://u:p@defrr.com/cb'),
    ],
    ['a redirect URI without a path', (m: AppManifest) => m.allowed_redirect_uris.push('https://defrr.com')],
    ['no redirect URIs', (m: AppManifest) => m.allowed_redirect_uris.splice(0)],
    ['an id that is not a slug', (m: AppManifest) => Object.assign(m, { id: 'com defrr' })],
    ['no icon', (m: AppManifest) => Object.assign(m, { icon: undefined })],
    ['a field Stripe does not know', (m: AppManifest) => Object.assign(m, { scopes: ['read_only'] })],
  ])('refuses %s', (_what, change) => {
    const manifest = onDisk();
    change(manifest);
    expect(appManifestSchema.safeParse(manifest).success).toBe(false);
  });

  it.each([
    'http://localhost:3000/v1/integrations/stripe/callback',
    'http://127.0.0.1:3000/v1/integrations/stripe/callback',
    'http://[::1]:3000/v1/integrations/stripe/callback',
    'https://stripe.example.com/v1/integrations/stripe/callback',
  ])('accepts the redirect URI %s', (uri) => {
    const manifest = onDisk();
    manifest.allowed_redirect_uris.push(uri);
    expect(appManifestSchema.safeParse(manifest).success).toBe(true);
  });
});

describe("the sandbox's app is the manifest's", () => {
  it('install page lists exactly the manifest’s permissions, in its order, each with its purpose and Read-only', () => {
    const html = permissionsPage({
      appName: APP_MANIFEST.name,
      testMode: true,
      action: '/oauth/v2/chnlink_x/authorize',
      hidden: {},
      account: { id: 'acct_1', name: 'Account' },
    });
    const items = [...html.matchAll(/<li data-permission="([^"]*)">(.*?)<\/li>/g)];
    expect(items.map((m) => m[1])).toEqual(APP_MANIFEST.permissions.map((p) => p.permission));
    for (const [index, { permission, purpose }] of APP_MANIFEST.permissions.entries()) {
      const body = items[index]?.[2] ?? '';
      expect(body).toContain(purpose.replace(/&/g, '&amp;').replace(/'/g, '&#39;'));
      expect(body).toContain(`<span class="permission-id">${permission}</span>`);
      expect(body).toContain('<span class="read-only">Read-only</span>');
    }
    expect(html).toContain(`What ${APP_MANIFEST.name} can access`);
  });

  it("is named as the manifest names it and allows the manifest's redirect URIs, plus only what its starter adds", () => {
    const local = 'http://localhost:3000/v1/integrations/stripe/callback';
    expect(new Sandbox().appName).toBe(APP_MANIFEST.name);
    expect([...new Sandbox().redirectUris]).toEqual(APP_MANIFEST.allowed_redirect_uris);
    expect([...new Sandbox({ allowedRedirectUris: [local] }).redirectUris]).toEqual([
      ...APP_MANIFEST.allowed_redirect_uris,
      local,
    ]);
  });
});
