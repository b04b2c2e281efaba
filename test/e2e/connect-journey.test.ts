import { join } from 'node:path';
import type { Browser, Locator, Page } from 'playwright-core';
import type { LocalStack } from '../../local/stack.js';
import { CALLBACK_PATH } from '../../local/stack.js';
import { APP_MANIFEST } from '../../local/stripe-sandbox/app-manifest.js';
import { ARTIFACTS, launchBrowser } from '../support/browser.js';
import { onlyConnection } from '../support/connections.js';
import {
  api,
  BAKERY_ACCOUNT,
  connectOrg,
  DEMO_ACCOUNT,
  startTestStack,
  type TestClock,
  tokenFor,
} from '../support/local-stack.js';
import { registerSecret } from '../support/log-capture.js';
import { sandboxCounts, sandboxObjects } from '../support/sync.js';

// A first sync in a browser on a loaded two-core machine; the slow ones say so themselves.
jest.setTimeout(120_000);

let stack: LocalStack & { clock: TestClock };
let browser: Browser;
/** Called by every sync run after each page it stores (a test holds the sync there). */
let pageHook: ((resource: string, pages: number) => Promise<void>) | undefined;

beforeAll(async () => {
  stack = await startTestStack(
    {},
    {
      wrap: { onPageStored: (resource, pages) => pageHook?.(resource, pages) },
      // An erase waits this long after the disconnect for writers already under way.
      sync: { eraseGraceMs: 1000 },
    },
  );
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await stack?.close();
});

const shot = (page: Page, name: string) =>
  page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

const LABELS = {
  balance_transactions: 'Balance transactions',
  charges: 'Charges',
  refunds: 'Refunds',
  invoices: 'Invoices',
  credit_notes: 'Credit notes',
  disputes: 'Disputes',
  customers: 'Customers',
  products: 'Products',
  prices: 'Prices',
  coupons: 'Coupons',
  payouts: 'Payouts',
  subscriptions: 'Subscriptions',
  invoice_payments: 'Invoice payments',
  subscription_schedules: 'Subscription schedules',
  discounts: 'Discounts',
  invoice_line_items: 'Invoice lines',
  credit_note_line_items: 'Credit-note lines',
  subscription_items: 'Subscription items',
};

/** What must not happen anywhere on the way: a 404 (a favicon, say), a console error, an uncaught error. */
function watch(page: Page) {
  const problems: string[] = [];
  page.on('response', (response) => {
    if (response.status() === 404) problems.push(`404 ${response.url()}`);
  });
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  return problems;
}

async function openIntegrationPage(org: string, page?: Page) {
  const tab = page ?? (await browser.newPage());
  await tab.goto(`${stack.url}/?org=${org}`);
  await tab.locator('#status[data-status]').waitFor();
  return tab;
}

/** A sandbox account with these counts, connected for `org` (through the API), and its page open. */
async function pageConnectedTo(org: string, account: string, name: string, counts: Record<string, number>) {
  stack.sandbox.sandbox.addAccount({ id: account, name, counts });
  const page = await openIntegrationPage(org);
  await connectOrg(stack, org, { account });
  await page.reload();
  return page;
}

/** The status the page shows, from the API (the account's name once the API has one). */
async function statusOf(org: string) {
  const response = await api(stack, 'GET', '/v1/integrations/stripe/status', {
    token: await tokenFor(stack, org),
  });
  return response.json as { account: { id: string; livemode: boolean; name?: string | null } | null };
}

/** The counts table as [api name, label, raw count, shown count] rows. */
const countRows = (page: Page) =>
  page
    .locator('#counts tbody tr')
    .evaluateAll((rows) =>
      rows.map((row) => [
        row.getAttribute('data-resource'),
        row.children[0]?.textContent,
        Number(row.getAttribute('data-count')),
        row.children[1]?.textContent,
      ]),
    );

async function box(locator: Locator) {
  const found = await locator.boundingBox();
  if (!found) throw new Error(`${locator} is not on screen`);
  return found;
}

/** Holds the browser's way back to the callback until released, so the confirmation screen can be looked at. */
async function holdCallback(page: Page) {
  let release!: () => void;
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  let requested!: (url: URL) => void;
  const sent = new Promise<URL>((resolve) => {
    requested = resolve;
  });
  await page.route(
    (url) => url.pathname === CALLBACK_PATH,
    async (route) => {
      requested(new URL(route.request().url()));
      await released;
      await route.continue();
    },
  );
  return { sent, release };
}

/** The sandbox's screens, quickly: Continue → Select an account → Continue → Install app. */
async function install(page: Page, account: RegExp) {
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByRole('heading', { name: 'Select an account' }).waitFor();
  await page.getByLabel(account).check();
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByRole('heading', { name: `What ${APP_MANIFEST.name} can access` }).waitFor();
  await page.getByRole('button', { name: 'Install app' }).click();
}

const backOnDefrr = (page: Page) =>
  page.waitForURL((url) => url.href.startsWith(stack.url) && !url.pathname.includes('callback'));

describe("an org admin connects Stripe in the browser, as Defrr's help page walks them through it", () => {
  it('Integrations → Stripe → Connect Stripe → the app (test version) → Continue → Select an account → Continue → Read-only permissions → Install app → successful → Connected → first sync → Disconnect', async () => {
    const org = 'org_e2e_journey';
    const page = await browser.newPage();
    const problems = watch(page);

    // 1. The Integrations page's Stripe option: not connected, Connect Stripe at the top right.
    await openIntegrationPage(org, page);
    expect(await page.locator('#status').textContent()).toBe('Not connected');
    expect(await page.locator('#details').isVisible()).toBe(false);
    expect(await page.locator('#counts').isVisible()).toBe(false);
    expect(await page.locator('dt:visible').count()).toBe(0);
    const connect = page.getByRole('button', { name: 'Connect Stripe' });
    const header = await box(page.locator('#stripe-header'));
    const button = await box(connect);
    expect(button.x).toBeGreaterThanOrEqual(header.x + header.width / 2);
    expect(button.y + button.height).toBeLessThanOrEqual(header.y + header.height + 1);
    await shot(page, 'journey-1-not-connected');

    // 2. Stripe's page for the app: a test version, an unreviewed app installed through a direct link.
    await connect.click();
    await page.waitForURL((url) => url.href.startsWith(stack.sandbox.url));
    await page.getByRole('heading', { name: APP_MANIFEST.name, exact: true }).waitFor();
    const notice = await page.getByRole('status').textContent();
    expect(notice).toContain('You are installing a test version of this app');
    expect(notice).toContain('unreviewed app');
    expect(notice).toContain('installed through a direct link');
    const continueButton = page.getByRole('button', { name: 'Continue' });
    const main = await box(page.locator('main'));
    const continueBox = await box(continueButton);
    expect(continueBox.x).toBeGreaterThanOrEqual(main.x + main.width / 2);
    expect(continueBox.y).toBeGreaterThanOrEqual(main.y + main.height / 2);
    expect(await page.getByRole('button', { name: 'Install app' }).count()).toBe(0);
    await shot(page, 'journey-2-app-page');

    // 3. Continue → Select an account: the company's account.
    await continueButton.click();
    await page.getByRole('heading', { name: 'Select an account' }).waitFor();
    expect(await page.getByLabel(/Demo Coffee Roasters/).count()).toBe(1);
    await page.getByLabel(/Small Bakery/).check();
    expect(await page.getByLabel(/Small Bakery/).isChecked()).toBe(true);
    await shot(page, 'journey-3-select-account');

    // 4. Continue → what Defrr can access, every item Read-only; Install app at the bottom right.
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('heading', { name: `What ${APP_MANIFEST.name} can access` }).waitFor();
    expect(await page.textContent('main')).toContain('Small Bakery');
    for (const { permission: id, purpose: text } of APP_MANIFEST.permissions) {
      const item = page.locator(`li[data-permission="${id}"]`);
      expect(await item.textContent()).toContain(text);
      expect(await item.getByText('Read-only', { exact: true }).isVisible()).toBe(true);
    }
    expect(await page.locator('li[data-permission]').count()).toBe(APP_MANIFEST.permissions.length);
    const installBox = await box(page.getByRole('button', { name: 'Install app' }));
    const permissionsMain = await box(page.locator('main'));
    expect(installBox.x).toBeGreaterThanOrEqual(permissionsMain.x + permissionsMain.width / 2);
    expect(stack.sandbox.sandbox.isInstalled(BAKERY_ACCOUNT, 'test')).toBe(false);
    await shot(page, 'journey-4-permissions');

    // 5. Install app → Stripe confirms the install, then sends the browser back by itself.
    const callback = await holdCallback(page);
    await page.getByRole('button', { name: 'Install app' }).click();
    await page.getByRole('heading', { name: 'Installation successful' }).waitFor();
    expect(await page.textContent('main')).toContain(`${APP_MANIFEST.name} was installed on Small Bakery`);
    await shot(page, 'journey-5-installed');
    registerSecret((await callback.sent).searchParams.get('code') as string);
    callback.release();

    // 6. Back on Defrr's page: Connected, with the account.
    await backOnDefrr(page);
    await page.locator('#status[data-status="connected"]').waitFor();
    expect(await page.locator('#status').textContent()).toBe('Connected');
    expect(await page.locator('#account').textContent()).toContain(BAKERY_ACCOUNT);
    expect(await page.locator('#mode').getAttribute('data-mode')).toBe('test');
    expect(await page.locator('#connect-mode').inputValue()).toBe('test');
    expect(await page.locator('#notice').textContent()).toContain('Stripe connected.');
    expect(new URL(page.url()).searchParams.has('stripe')).toBe(false);
    await shot(page, 'journey-6-connected');

    // 7. The first sync: counts with their names, and a notice that no longer says it is queued.
    await page.locator('#notice').filter({ hasText: 'First sync finished' }).waitFor({ timeout: 90_000 });
    expect(await page.locator('#notice').textContent()).not.toContain('queued');
    await page.locator('#counts tr[data-resource="charges"]').waitFor();
    // What the sandbox seeded (payouts follow from its balance transactions).
    const expected = sandboxCounts(stack, BAKERY_ACCOUNT);
    const rows = await countRows(page);
    expect(rows).toEqual(
      Object.entries(LABELS).map(([resource, label]) => [
        resource,
        label,
        expected[resource as keyof typeof expected],
        String(expected[resource as keyof typeof expected]),
      ]),
    );
    expect(await page.locator('#last-sync').textContent()).not.toBe('never');
    expect(await page.locator('#sync-state').textContent()).toBe('Up to date');
    // The first sync read the account's name: the page shows it beside the id.
    expect((await statusOf(org)).account?.name).toBe('Small Bakery');
    await page.locator('#account').filter({ hasText: 'Small Bakery' }).waitFor();
    expect(await page.locator('#account').textContent()).toContain(BAKERY_ACCOUNT);
    await shot(page, 'journey-7-first-sync');

    // 8. Disconnect asks first.
    await page.getByRole('button', { name: 'Disconnect' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.waitFor();
    expect(await dialog.getByRole('heading').textContent()).toBe('Disconnect Stripe?');
    expect(await dialog.textContent()).toContain('Small Bakery');
    expect(await page.locator('#status').getAttribute('data-status')).toBe('connected');
    await shot(page, 'journey-8-disconnect-dialog');
    await dialog.getByRole('button', { name: 'Disconnect' }).click();

    // 9. Disconnected: the old account and its counts are gone from the Stripe card; the list
    // of connections keeps it, disconnected (its records stay in Defrr unless erased).
    await page.locator('#status[data-status="disconnected"]').waitFor();
    expect(await page.locator('#status').textContent()).toBe('Disconnected');
    expect(await page.locator('#notice').textContent()).toBe('Stripe disconnected.');
    expect(await page.locator('#details').isVisible()).toBe(false);
    expect(await page.locator('#counts').isVisible()).toBe(false);
    expect(await page.locator('#counts tbody tr').count()).toBe(0);
    expect(await page.locator('#account').textContent()).toBe('');
    expect(await page.locator('dt:visible').count()).toBe(0);
    expect(
      await page.locator('#stripe-title').locator('xpath=ancestor::section').textContent(),
    ).not.toContain(BAKERY_ACCOUNT);
    expect(
      await page
        .locator(`#connections tr[data-connection-id="test_${BAKERY_ACCOUNT}"]`)
        .getAttribute('data-status'),
    ).toBe('disconnected');
    expect(await page.getByRole('button', { name: 'Connect Stripe' }).isVisible()).toBe(true);
    expect(await page.getByRole('button', { name: 'Disconnect' }).isVisible()).toBe(false);
    await shot(page, 'journey-9-disconnected');

    expect(problems).toEqual([]);
    await page.close();
  }, 180_000);

  it('the mode picker shows the mode of the connection: live after a live install, after a reload too', async () => {
    const org = 'org_e2e_live';
    const page = await openIntegrationPage(org);
    const problems = watch(page);
    expect(await page.locator('#connect-mode').inputValue()).toBe('test');
    await page.locator('#connect-mode').selectOption('live');
    await page.getByRole('button', { name: 'Connect Stripe' }).click();
    await page.waitForURL((url) => url.href.startsWith(stack.sandbox.url));
    await page.getByRole('heading', { name: APP_MANIFEST.name, exact: true }).waitFor();
    // The live External test link: the app's test version, installed in live mode.
    expect(new URL(page.url()).pathname).toBe('/oauth/v2/chnlink_locallive/authorize');
    expect(await page.getByText('test version').count()).toBeGreaterThan(0);
    await install(page, /Demo Coffee Roasters/);
    await backOnDefrr(page);
    await page.locator('#status[data-status="connected"]').waitFor();
    expect(await page.locator('#mode').getAttribute('data-mode')).toBe('live');
    expect(await page.locator('#connect-mode').inputValue()).toBe('live');

    await page.reload();
    await page.locator('#status[data-status="connected"]').waitFor();
    expect(await page.locator('#connect-mode').inputValue()).toBe('live');
    expect(await page.locator('#mode').textContent()).toBe('Live');

    // Keep connected closes the question and changes nothing.
    await page.getByRole('button', { name: 'Disconnect' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Keep connected' }).click();
    await page.getByRole('dialog').waitFor({ state: 'hidden' });
    expect((await onlyConnection(stack.store, org))?.status).toBe('connected');
    expect(await page.locator('#status').getAttribute('data-status')).toBe('connected');

    // A test connection of another org, opened fresh after this one: test.
    const other = await openIntegrationPage('org_e2e_test_mode');
    await other.locator('#connect-mode').selectOption('live');
    await connectOrg(stack, 'org_e2e_test_mode', { account: BAKERY_ACCOUNT, body: { mode: 'test' } });
    await other.reload();
    await other.locator('#status[data-status="connected"]').waitFor();
    expect(await other.locator('#connect-mode').inputValue()).toBe('test');
    expect(await other.locator('#mode').getAttribute('data-mode')).toBe('test');
    await other.close();

    expect(problems).toEqual([]);
    await page.close();
  });

  it("shows the account's name with its id when the status API has one, and the id alone when not", async () => {
    const org = 'org_e2e_name';
    await connectOrg(stack, org, { account: BAKERY_ACCOUNT });
    const page = await browser.newPage();
    const problems = watch(page);
    // The status API is getting the account's name (\`name: string | null\`); the page is ready for either.
    let name: string | null = 'Small Bakery & Co';
    await page.route('**/v1/integrations/stripe/status', async (route) => {
      const response = await route.fetch();
      const status = (await response.json()) as {
        account: Record<string, unknown> | null;
        connections: Array<{ account: Record<string, unknown> }>;
      };
      if (status.account) status.account.name = name;
      for (const connection of status.connections) connection.account.name = name;
      await route.fulfill({ response, json: status });
    });
    await openIntegrationPage(org, page);
    await page.locator('#status[data-status="connected"]').waitFor();
    expect(await page.locator('#account-name').textContent()).toBe('Small Bakery & Co');
    expect(await page.locator('#account-id').textContent()).toBe(BAKERY_ACCOUNT);
    await page.getByRole('button', { name: 'Disconnect' }).click();
    expect(await page.getByRole('dialog').textContent()).toContain('Small Bakery & Co');
    await page.getByRole('dialog').getByRole('button', { name: 'Keep connected' }).click();
    await shot(page, 'connect-account-name');

    name = null;
    await page.reload();
    await page.locator('#status[data-status="connected"]').waitFor();
    expect(await page.locator('#account-name').count()).toBe(0);
    expect(await page.locator('#account').textContent()).toBe(BAKERY_ACCOUNT);
    expect(problems).toEqual([]);
    await page.close();
  });

  it('fits a 390 px wide phone: no sideways scrolling, every button on screen', async () => {
    const org = 'org_e2e_phone';
    const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
    const onScreen = async (names: string[]) => {
      expect(await page.locator('html').evaluate((html) => html.scrollWidth)).toBeLessThanOrEqual(390);
      for (const name of names) {
        const found = await box(page.getByRole('button', { name, exact: true }));
        expect([name, found.x >= 0 && found.x + found.width <= 390]).toEqual([name, true]);
      }
    };
    await openIntegrationPage(org, page);
    await onScreen(['Connect Stripe']);
    expect(await page.locator('#connect-mode').isVisible()).toBe(true);
    await shot(page, 'phone-1-not-connected');

    await connectOrg(stack, org, { account: BAKERY_ACCOUNT });
    await page.reload();
    await page.locator('#status[data-status="connected"]').waitFor();
    await page.locator('#counts tr[data-resource="charges"]').waitFor({ timeout: 90_000 });
    await onScreen(['Reconnect', 'Sync now', 'Disconnect']);
    await shot(page, 'phone-2-connected');
    await page.getByRole('button', { name: 'Disconnect' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.waitFor();
    for (const name of ['Keep connected', 'Disconnect']) {
      const found = await box(dialog.getByRole('button', { name, exact: true }));
      expect(found.x >= 0 && found.x + found.width <= 390).toBe(true);
    }
    await dialog.getByRole('button', { name: 'Keep connected' }).click();
    await page.close();
  }, 150_000);

  it("an admin's install link completed in another browser (another person) connects nothing there, and says why", async () => {
    const org = 'org_e2e_bound';
    // The admin starts connecting, then sends the Stripe link on instead of installing.
    const admin = await openIntegrationPage(org);
    await admin.getByRole('button', { name: 'Connect Stripe' }).click();
    await admin.waitForURL((url) => url.href.startsWith(stack.sandbox.url));
    const link = admin.url();
    // Someone else, in their own browser, installs the app on their Stripe account.
    const other = await browser.newContext();
    const page = await other.newPage();
    const problems = watch(page);
    await page.goto(link);
    await install(page, /Small Bakery/);
    await backOnDefrr(page);
    await page.locator('#notice').filter({ hasText: 'started by another Defrr user' }).waitFor();
    expect(await page.locator('#notice').textContent()).toContain('nothing was connected');
    await page.locator('#status[data-status]').waitFor();
    expect(await page.locator('#status').textContent()).toBe('Not connected');
    expect((await onlyConnection(stack.store, org))?.status).toBeUndefined();
    await shot(page, 'bound-1-other-browser');
    expect(problems.filter((p) => !p.includes('403'))).toEqual([]);
    await other.close();
    await admin.close();
  });

  it('Cancel in Stripe → back on the page with the cancelled message, still not connected', async () => {
    const page = await openIntegrationPage('org_e2e_cancel');
    await page.getByRole('button', { name: 'Connect Stripe' }).click();
    await page.waitForURL((url) => url.href.startsWith(stack.sandbox.url));
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('heading', { name: 'Select an account' }).waitFor();
    await page.getByRole('button', { name: 'Cancel' }).click();
    await backOnDefrr(page);
    await page.locator('#status[data-status]').waitFor();
    expect(await page.locator('#notice').textContent()).toContain('You cancelled');
    expect(await page.locator('#status').textContent()).toBe('Not connected');
    await shot(page, 'connect-cancelled');
    await page.close();
  });

  it("uninstalling the app in Stripe (the sandbox's control) shows the revoked state on the page", async () => {
    const page = await openIntegrationPage('org_e2e_revoke');
    await page.getByRole('button', { name: 'Connect Stripe' }).click();
    await page.waitForURL((url) => url.href.startsWith(stack.sandbox.url));
    await install(page, /Demo Coffee Roasters/);
    await page.locator('#status[data-status="connected"]').waitFor();

    const response = await fetch(`${stack.sandbox.url}/_sandbox/uninstall`, {
      method: 'POST',
      body: JSON.stringify({ account: DEMO_ACCOUNT, mode: 'test' }),
    });
    expect(await response.json()).toEqual({ uninstalled: true });
    await page.reload();
    await page.locator('#status[data-status="revoked"]').waitFor({ timeout: 15_000 });
    expect(await page.locator('#status').textContent()).toBe('Revoked in Stripe');
    expect(await page.locator('#account').textContent()).toContain(DEMO_ACCOUNT);
    await shot(page, 'connect-revoked');
    await page.close();
  });

  it('a stale install flow (state expired) lands with a clear message', async () => {
    const page = await openIntegrationPage('org_e2e_stale');
    await page.getByRole('button', { name: 'Connect Stripe' }).click();
    await page.waitForURL((url) => url.href.startsWith(stack.sandbox.url));
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByLabel(/Demo Coffee Roasters/).check();
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('button', { name: 'Install app' }).waitFor();
    stack.clock.advance(11 * 60_000);
    try {
      await page.getByRole('button', { name: 'Install app' }).click();
      await backOnDefrr(page);
      await page.locator('#status[data-status]').waitFor();
      expect(await page.locator('#notice').textContent()).toContain('expired or was already used');
      expect(await page.locator('#status').textContent()).toBe('Not connected');
      expect((await onlyConnection(stack.store, 'org_e2e_stale'))?.accountId).not.toBe(DEMO_ACCOUNT);
    } finally {
      stack.clock.advance(-11 * 60_000);
    }
    await page.close();
  });
});

describe('several accounts, in both modes, on the page', () => {
  it('lists every connection; Show picks one; Disconnect with “also erase” disconnects that one alone and erases its records', async () => {
    const org = 'org_e2e_several';
    await connectOrg(stack, org, { account: DEMO_ACCOUNT, body: { mode: 'test' } });
    await connectOrg(stack, org, { account: BAKERY_ACCOUNT, body: { mode: 'live' } });
    await stack.queues.sync.idle(60_000);
    const page = await openIntegrationPage(org);
    const problems = watch(page);
    const rows = page.locator('#connections tbody tr');
    await rows.nth(1).waitFor();
    const listed = async () =>
      rows.evaluateAll((trs) =>
        trs.map((tr) => [tr.getAttribute('data-connection-id'), tr.getAttribute('data-status')]).sort(),
      );
    expect(await listed()).toEqual(
      [
        [`live_${BAKERY_ACCOUNT}`, 'connected'],
        [`test_${DEMO_ACCOUNT}`, 'connected'],
      ].sort(),
    );
    // The newest is shown first; Show picks the other.
    await page.locator('#mode[data-mode="live"]').waitFor();
    await page.locator(`#connections tr[data-connection-id="test_${DEMO_ACCOUNT}"] button`).click();
    await page.locator('#mode[data-mode="test"]').waitFor();
    expect(await page.locator('#account-id').textContent()).toBe(DEMO_ACCOUNT);

    await page.getByRole('button', { name: 'Disconnect' }).click();
    await page.getByRole('dialog').getByLabel('Also erase its records from Defrr').check();
    await page.getByRole('dialog').getByRole('button', { name: 'Disconnect' }).click();
    await page.getByText('Stripe disconnected. Its records are being erased.').waitFor();
    await page
      .locator(`#connections tr[data-connection-id="test_${DEMO_ACCOUNT}"][data-status="disconnected"]`)
      .waitFor();
    await page
      .locator(`#connections tr[data-connection-id="test_${DEMO_ACCOUNT}"]`)
      .getByText('Records erased')
      .waitFor({ timeout: 60_000 });
    expect(
      await page
        .locator(`#connections tr[data-connection-id="live_${BAKERY_ACCOUNT}"]`)
        .getAttribute('data-status'),
    ).toBe('connected');
    const stored = await stack.records.counts({ orgId: org, mode: 'test', accountId: DEMO_ACCOUNT });
    expect(stored).toBeUndefined();
    expect(
      Object.values(
        (await stack.records.counts({ orgId: org, mode: 'live', accountId: BAKERY_ACCOUNT })) ?? {},
      ).some((n) => (n ?? 0) > 0),
    ).toBe(true);
    await shot(page, 'several-connections');
    expect(problems).toEqual([]);
    await page.close();
  });

  it('Add an account: with one connection, the page adds another account in the other mode through Stripe and shows both, each with its state', async () => {
    const org = 'org_e2e_add';
    await connectOrg(stack, org, { account: DEMO_ACCOUNT, body: { mode: 'test' } });
    await stack.queues.sync.idle(60_000);
    const page = await openIntegrationPage(org);
    const problems = watch(page);
    const row = (id: string) => page.locator(`#connections tr[data-connection-id="${id}"]`);
    await row(`test_${DEMO_ACCOUNT}`).waitFor();
    expect(await page.locator('#connections tbody tr').count()).toBe(1);

    await page.getByLabel('Mode of the account to add').selectOption('live');
    await page.getByRole('button', { name: 'Add an account' }).click();
    await page.waitForURL((url) => url.href.startsWith(stack.sandbox.url));
    // The live install link: what the user picks there is added in live mode.
    expect(new URL(page.url()).pathname).toBe('/oauth/v2/chnlink_locallive/authorize');
    await install(page, /Small Bakery/);
    await backOnDefrr(page);

    // Both listed, each with its own mode and state; the one just added is the one shown.
    await row(`live_${BAKERY_ACCOUNT}`).waitFor();
    await page.locator('#mode[data-mode="live"]').waitFor();
    expect(await page.locator('#account-id').textContent()).toBe(BAKERY_ACCOUNT);
    const listed = await page
      .locator('#connections tbody tr')
      .evaluateAll((trs) =>
        trs.map((tr) => [
          tr.getAttribute('data-connection-id'),
          tr.querySelector('td[data-mode]')?.getAttribute('data-mode'),
          tr.getAttribute('data-status'),
        ]),
      );
    expect(listed.sort()).toEqual(
      [
        [`live_${BAKERY_ACCOUNT}`, 'live', 'connected'],
        [`test_${DEMO_ACCOUNT}`, 'test', 'connected'],
      ].sort(),
    );
    // The added connection syncs on its own: its first sync finishes and shows on its row,
    // with the account's name it read.
    await stack.queues.sync.idle(60_000);
    await row(`live_${BAKERY_ACCOUNT}`).getByText(`Small Bakery (${BAKERY_ACCOUNT})`).waitFor();
    const lastSync = row(`live_${BAKERY_ACCOUNT}`).locator('td:nth-child(4)');
    await lastSync.filter({ hasNotText: 'never' }).waitFor({ timeout: 30_000 });
    expect(await lastSync.textContent()).toMatch(/\d/);

    // The API agrees: two connections of this org, one per (mode, account).
    const status = await api(stack, 'GET', '/v1/integrations/stripe/status', {
      token: await tokenFor(stack, org),
    });
    const connections = (status.json as { connections: Array<{ id: string; mode: string; status: string }> })
      .connections;
    expect(connections.map((c) => [c.id, c.mode, c.status]).sort()).toEqual(
      [
        [`live_${BAKERY_ACCOUNT}`, 'live', 'connected'],
        [`test_${DEMO_ACCOUNT}`, 'test', 'connected'],
      ].sort(),
    );
    await shot(page, 'add-an-account');
    expect(problems).toEqual([]);
    await page.close();
  });
});

describe('the sync, seen on the page', () => {
  it('connect in the browser → the first sync runs → the page shows the counts; Sync now → Sync finished', async () => {
    const page = await openIntegrationPage('org_e2e_sync');
    await page.getByRole('button', { name: 'Connect Stripe' }).click();
    await page.waitForURL((url) => url.href.startsWith(stack.sandbox.url));
    await install(page, /Small Bakery/);
    await page.locator('#status[data-status="connected"]').waitFor();
    // The counts are what is stored, so they grow while the first sync runs; once it is done
    // they are the account's.
    await page.locator('#last-sync').filter({ hasNotText: 'never' }).waitFor({ timeout: 90_000 });
    await page.locator('#counts tr[data-resource="charges"]').waitFor({ timeout: 90_000 });
    const counts = Object.fromEntries((await countRows(page)).map(([resource, , n]) => [resource, n]));
    expect(counts).toEqual(sandboxCounts(stack, BAKERY_ACCOUNT));
    await shot(page, 'sync-1-counts');

    await page.getByRole('button', { name: 'Sync now' }).click();
    await page.locator('#notice').filter({ hasText: 'Sync finished.' }).waitFor({ timeout: 90_000 });
    expect(await page.locator('#sync-state').textContent()).toBe('Up to date');
    // The recent syncs: the first one, then Sync now, newest first.
    await page.locator('#runs tbody tr[data-trigger="manual"]').waitFor();
    const runs = await page
      .locator('#runs tbody tr')
      .evaluateAll((rows) =>
        rows.map((row) => [...row.querySelectorAll('td')].map((cell) => cell.textContent)),
      );
    expect(runs.map((cells) => cells.slice(1, 3))).toEqual([
      ['Sync now', 'Completed'],
      ['First sync', 'Completed'],
    ]);
    const written = Number((runs[1]?.[3] ?? '').replace(/,/g, ''));
    expect(written).toBeGreaterThanOrEqual(
      Object.values(sandboxCounts(stack, BAKERY_ACCOUNT)).reduce((a, b) => a + b, 0),
    );
    await shot(page, 'sync-2-sync-now');

    // Recent transactions, read from the records API ten at a time; Next page follows the cursor.
    const rows = () =>
      page
        .locator('#transactions tbody tr')
        .evaluateAll((trs) =>
          trs.map((tr) => [
            tr.getAttribute('data-id'),
            ...[...tr.querySelectorAll('td')].map((td) => td.textContent),
          ]),
        );
    await page.locator('#transactions tbody tr').first().waitFor();
    const first = await rows();
    expect(first).toHaveLength(10);
    const charges = sandboxObjects(stack, BAKERY_ACCOUNT, 'charges');
    for (const [id, , type, amount, currency, customer] of first) {
      expect(type).toMatch(/^(Charge|Refund)$/);
      if (type !== 'Charge') continue;
      const charge = charges.get(id as string) as {
        amount: number;
        currency: string;
        customer: string | null;
      };
      expect(amount).toBe((charge.amount / 100).toFixed(2));
      expect(currency).toBe(charge.currency.toUpperCase());
      expect(customer).toBe(charge.customer ?? '—');
    }
    await page.getByRole('button', { name: 'Next page' }).click();
    await page.locator(`#transactions tbody tr:first-child:not([data-id="${first[0]?.[0]}"])`).waitFor();
    const second = await rows();
    expect(second.length).toBeGreaterThan(0);
    expect(second.some(([id]) => first.some(([seen]) => seen === id))).toBe(false);
    await shot(page, 'sync-3-transactions');
    await page.close();
  }, 150_000);

  it('Re-sync everything: queued, then done with what it added, updated and marked deleted (a customer deleted while nothing listened)', async () => {
    const org = 'org_e2e_full_resync';
    const account = 'acct_1SbxResyncShop00004';
    const page = await pageConnectedTo(org, account, 'Resync Shop', {
      balance_transactions: 40,
      charges: 30,
      refunds: 2,
      invoices: 4,
      credit_notes: 1,
      customers: 6,
    });
    await page.locator('#sync-state').filter({ hasText: 'Up to date' }).waitFor({ timeout: 90_000 });
    await stack.queues.sync.idle(60_000);
    // Stripe deletes a customer and its webhook is lost: only a full pass can find it gone.
    stack.queues.webhooks.pause();
    const [customer] = stack.sandbox.sandbox.createActivity(account, 'test', 'customer_deleted').objects;
    await stack.sandbox.sandbox.webhooksIdle(30_000);
    stack.queues.webhooks.purge();
    stack.queues.webhooks.resume();
    // Its event falls before the pass's snapshot, so the event pass cannot bring it either.
    stack.sandbox.sandbox.advanceClock(5);
    try {
      const connection = await onlyConnection(stack.store, org);
      const scope = { orgId: org, mode: 'test' as const, accountId: account };
      expect(connection?.status).toBe('connected');
      expect(await stack.records.get(scope, 'customers', customer as string)).toMatchObject({
        deleted: false,
      });

      await page.getByRole('button', { name: 'Re-sync everything' }).click();
      await page.locator('#notice').filter({ hasText: 'Full re-sync queued' }).waitFor();
      const state = page.locator('#full-sync-state');
      await state
        .filter({ hasText: /^Done .* — 0 added, [\d,]+ updated, 1 marked deleted$/ })
        .waitFor({ timeout: 120_000 });
      // Hidden while a pass is under way, back once it is done.
      await page.getByRole('button', { name: 'Re-sync everything' }).waitFor();
      expect(await stack.records.get(scope, 'customers', customer as string)).toMatchObject({
        deleted: true,
      });
      await shot(page, 'sync-5-full-resync-done');
      await page.close();
    } finally {
      stack.sandbox.sandbox.advanceClock(-5);
    }
  }, 300_000);

  it('shows the progress while the sync runs ("Syncing — Charges: 1,234") and the counts with thousands separators', async () => {
    const org = 'org_e2e_progress';
    const account = 'acct_1SbxBusyBakery0003';
    // The sync stops after each resource's first page (which writes the progress) until the page has shown it.
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    pageHook = async (_resource, pages) => {
      if (pages >= 2) await released;
    };
    try {
      const page = await pageConnectedTo(org, account, 'Busy Bakery', {
        balance_transactions: 2_000,
        charges: 1_800,
        refunds: 150,
        invoices: 120,
        credit_notes: 2,
        disputes: 1,
      });
      const state = page.locator('#sync-state');
      await state.filter({ hasText: /^Syncing — [A-Z][a-z ]+: [\d,]+$/ }).waitFor({ timeout: 90_000 });
      await shot(page, 'sync-3-progress');
      release();
      await page.locator('#counts tr[data-resource="charges"]').waitFor({ timeout: 150_000 });
      await state.filter({ hasText: 'Up to date' }).waitFor({ timeout: 150_000 });
      const rows = await countRows(page);
      expect(rows).toContainEqual(['balance_transactions', 'Balance transactions', 2000, '2,000']);
      expect(rows).toContainEqual(['charges', 'Charges', 1800, '1,800']);
      expect(await page.locator('#account').textContent()).toContain(account);
      await shot(page, 'sync-4-large-counts');
      await page.close();
    } finally {
      release();
      pageHook = undefined;
    }
  }, 300_000);
});
