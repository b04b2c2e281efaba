import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import type { LocalStack } from '../../local/stack.js';
import { ARTIFACTS, launchBrowser } from '../support/browser.js';
import { BAKERY_ACCOUNT, DEMO_ACCOUNT, startTestStack, type TestClock } from '../support/local-stack.js';

jest.setTimeout(120_000);

let stack: LocalStack & { clock: TestClock };
let browser: Browser;

beforeAll(async () => {
  stack = await startTestStack();
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await stack?.close();
});

const shot = (page: Page, name: string) =>
  page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

/** The sandbox's install flow in the browser: Continue → Select an account → Continue → Install app. */
async function install(page: Page, account: RegExp) {
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByRole('heading', { name: 'Select an account' }).waitFor();
  await page.getByLabel(account).check();
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByRole('button', { name: 'Install app' }).click();
}

async function openIntegrationPage(org: string) {
  const page = await browser.newPage();
  await page.goto(`${stack.url}/?org=${org}`);
  await page.locator('#status[data-status]').waitFor();
  return page;
}

describe('an org admin connects Stripe in the browser', () => {
  it('Connect Stripe → install page (test version) → Install app → back on the page: Connected, with the account', async () => {
    const page = await openIntegrationPage('org_e2e_connect');
    expect(await page.locator('#status').textContent()).toBe('Not connected');
    await shot(page, 'connect-1-not-connected');

    await page.getByRole('button', { name: 'Connect Stripe' }).click();
    await page.waitForURL((url) => url.href.startsWith(stack.sandbox.url));
    expect(await page.getByRole('status').textContent()).toContain('test version');
    await shot(page, 'connect-2-install-page');
    await install(page, /Small Bakery/);

    await page.waitForURL((url) => url.href.startsWith(stack.url) && !url.pathname.includes('callback'));
    await page.locator('#status[data-status="connected"]').waitFor();
    expect(await page.locator('#status').textContent()).toBe('Connected');
    expect(await page.locator('#account').textContent()).toContain(BAKERY_ACCOUNT);
    expect(await page.locator('#mode').getAttribute('data-mode')).toBe('test');
    expect(await page.locator('#notice').textContent()).toContain('Stripe connected.');
    // The outcome parameters are cleaned out of the address bar.
    expect(new URL(page.url()).searchParams.has('stripe')).toBe(false);
    await shot(page, 'connect-3-connected');

    await page.getByRole('button', { name: 'Disconnect' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Disconnect' }).click();
    await page.locator('#status[data-status="disconnected"]').waitFor();
    expect(await page.locator('#details').isVisible()).toBe(false);
    expect(await page.locator('#counts').isVisible()).toBe(false);
    expect(await page.locator('#status').textContent()).toBe('Disconnected');
    await shot(page, 'connect-4-disconnected');
    await page.close();
  });

  it('Cancel on the install page → back on the page with the cancelled message, still not connected', async () => {
    const page = await openIntegrationPage('org_e2e_cancel');
    await page.getByRole('button', { name: 'Connect Stripe' }).click();
    await page.waitForURL((url) => url.href.startsWith(stack.sandbox.url));
    await page.getByRole('button', { name: 'Cancel' }).click();
    await page.waitForURL((url) => url.href.startsWith(stack.url) && !url.pathname.includes('callback'));
    await page.locator('#status[data-status]').waitFor();
    expect(await page.locator('#notice').textContent()).toContain('You cancelled');
    expect(await page.locator('#status').textContent()).toBe('Not connected');
    await shot(page, 'connect-5-cancelled');
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
    await shot(page, 'connect-6-revoked');
    await page.close();
  });

  it('a stale install page (state expired) lands with a clear message', async () => {
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
      await page.waitForURL((url) => url.href.startsWith(stack.url) && !url.pathname.includes('callback'));
      await page.locator('#status[data-status]').waitFor();
      expect(await page.locator('#notice').textContent()).toContain('expired or was already used');
      expect(await page.locator('#status').textContent()).toBe('Not connected');
      expect((await stack.store.getConnection('org_e2e_stale'))?.accountId).not.toBe(DEMO_ACCOUNT);
    } finally {
      stack.clock.advance(-11 * 60_000);
    }
    await page.close();
  });
});

describe('the first sync, seen on the page', () => {
  it('connect in the browser → the first sync runs → the page shows the counts', async () => {
    const page = await openIntegrationPage('org_e2e_sync');
    await page.getByRole('button', { name: 'Connect Stripe' }).click();
    await page.waitForURL((url) => url.href.startsWith(stack.sandbox.url));
    await install(page, /Small Bakery/);
    await page.locator('#status[data-status="connected"]').waitFor();
    await page.locator('#counts tr[data-resource="charges"]').waitFor({ timeout: 60_000 });
    const counts = Object.fromEntries(
      await page
        .locator('#counts tbody tr')
        .evaluateAll((rows) =>
          rows.map((row) => [row.getAttribute('data-resource'), Number(row.getAttribute('data-count'))]),
        ),
    );
    const expected = stack.sandbox.sandbox.accounts.get(BAKERY_ACCOUNT)?.counts;
    expect(counts).toEqual(expected);
    expect(await page.locator('#last-sync').textContent()).not.toBe('never');
    await shot(page, 'sync-1-counts');

    await page.getByRole('button', { name: 'Sync now' }).click();
    await page.locator('#notice').filter({ hasText: 'Sync finished.' }).waitFor({ timeout: 60_000 });
    await shot(page, 'sync-2-sync-now');
    await page.close();
  });
});
