import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { loadLocalConfig } from '../../local/config.js';
import { CALLBACK_PATH, type LocalStack, startLocalStack } from '../../local/stack.js';
import { APP_MANIFEST } from '../../local/stripe-sandbox/app-manifest.js';
import { ARTIFACTS, launchBrowser } from '../support/browser.js';
import { registerSecret } from '../support/log-capture.js';

jest.setTimeout(120_000);

let stack: LocalStack;
let browser: Browser;

beforeAll(async () => {
  stack = await startLocalStack(
    loadLocalConfig({
      PORT: '0',
      DYNAMODB_PORT: '0',
      STRIPE_SANDBOX_PORT: '0',
      DATA_DIR: join(ARTIFACTS, '.data-e2e'),
    }),
    {
      memory: true,
    },
  );
  registerSecret(stack.sandbox.sandbox.secretKeys.test);
  stack.sandbox.sandbox.installLinks.set('chnlink_e2e', 'test');
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await stack?.close();
});

const BAKERY = 'acct_1SbxSmallBakery002';

function installUrl(state: string, path = '/oauth/v2/chnlink_e2e/authorize') {
  const url = new URL(`${stack.sandbox.url}${path}`);
  url.searchParams.set('client_id', stack.sandbox.sandbox.clientId);
  url.searchParams.set('redirect_uri', `${stack.url}${CALLBACK_PATH}`);
  url.searchParams.set('state', state);
  return url.toString();
}

/**
 * Holds the browser's request to the callback (answering it with a stub page
 * once released; playwright routes requests but not the redirects they follow), so the confirmation screen can be looked at however slow
 * the machine; resolves with the URL the browser was sent to.
 */
async function holdCallback(page: Page) {
  let requested!: (url: URL) => void;
  let release!: () => void;
  const sent = new Promise<URL>((resolve) => {
    requested = resolve;
  });
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  await page.route(
    (url) => url.pathname === CALLBACK_PATH,
    async (route) => {
      requested(new URL(route.request().url()));
      await released;
      await route.fulfill({
        status: 200,
        contentType: 'text/html',
        body: '<!doctype html><link rel="icon" href="data:,"><title>callback</title>',
      });
    },
  );
  return { sent, release };
}

/** What must not happen on any screen: a 404 (a favicon, say) or a console error. */
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

const shot = (page: Page, name: string) =>
  page.screenshot({ path: join(ARTIFACTS, `sandbox-install-${name}.png`), fullPage: true });

describe('the Stripe sandbox install flow in Chromium', () => {
  it('app page (test version) → Continue → Select an account → permissions, all Read-only → Install app → Installation successful → back to the app with a code', async () => {
    const page = await browser.newPage();
    const problems = watch(page);
    const callback = await holdCallback(page);
    await page.goto(installUrl('state-install'));

    await page.getByRole('heading', { name: APP_MANIFEST.name, exact: true }).waitFor();
    const notice = await page.getByRole('status').textContent();
    expect(notice).toContain('test version');
    expect(notice).toContain('unreviewed app');
    expect(notice).toContain('installed through a direct link');
    expect(await page.locator('input[name=account]').count()).toBe(0);
    await shot(page, '1-app');
    await page.getByRole('button', { name: 'Continue' }).click();

    await page.getByRole('heading', { name: 'Select an account' }).waitFor();
    expect(await page.locator('input[name=account]').count()).toBeGreaterThanOrEqual(2);
    await page.getByLabel(/Small Bakery/).check();
    await shot(page, '2-select-account');
    await page.getByRole('button', { name: 'Continue' }).click();

    await page.getByRole('heading', { name: `What ${APP_MANIFEST.name} can access` }).waitFor();
    for (const { permission: id, purpose: text } of APP_MANIFEST.permissions) {
      const item = page.locator(`li[data-permission="${id}"]`);
      expect(await item.textContent()).toContain(text);
      expect(await item.getByText('Read-only', { exact: true }).isVisible()).toBe(true);
    }
    expect(stack.sandbox.sandbox.isInstalled(BAKERY, 'test')).toBe(false);
    await shot(page, '3-permissions');
    await page.getByRole('button', { name: 'Install app' }).click();

    await page.getByRole('heading', { name: 'Installation successful' }).waitFor();
    expect(await page.textContent('main')).toContain(`${APP_MANIFEST.name} was installed on Small Bakery`);
    expect(stack.sandbox.sandbox.isInstalled(BAKERY, 'test')).toBe(true);
    const link = await page
      .getByRole('link', { name: `Continue to ${APP_MANIFEST.name}` })
      .getAttribute('href');
    await shot(page, '4-installed');
    // Nobody clicks: the page sends the browser on by itself.
    const back = await callback.sent;
    registerSecret(back.searchParams.get('code') as string);
    expect(back.toString()).toBe(link);
    expect(back.searchParams.get('state')).toBe('state-install');
    expect(back.searchParams.get('code')).toMatch(/^ac_/);
    callback.release();
    await page.waitForURL((url) => url.pathname === CALLBACK_PATH);
    expect(problems).toEqual([]);
    await page.close();
  });

  it.each([
    ['the app page', 0],
    ['Select an account', 1],
    ['the permissions', 2],
  ])('Cancel on %s redirects with access_denied and no code', async (_, continues) => {
    const page = await browser.newPage();
    await page.goto(installUrl('state-cancel'));
    for (let i = 0; i < continues; i++) {
      const heading = await page.locator('h1').textContent();
      await page.getByRole('button', { name: 'Continue' }).click();
      await page
        .locator('h1')
        .filter({ hasNotText: heading ?? '' })
        .waitFor();
    }
    // A redirect (Stripe's 302), so not held: the callback answers it for real (an unknown state).
    const [request] = await Promise.all([
      page.waitForRequest((r) => new URL(r.url()).pathname === CALLBACK_PATH),
      page.getByRole('button', { name: 'Cancel' }).click(),
    ]);
    const back = new URL(request.url());
    expect(back.searchParams.get('error')).toBe('access_denied');
    // Without the state, as Stripe may send a cancel: the service still says "cancelled".
    expect(back.searchParams.has('state')).toBe(false);
    expect(back.searchParams.has('code')).toBe(false);
    await page.close();
  });

  it('every screen fits a 390 px wide phone, its buttons on screen', async () => {
    const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
    const callback = await holdCallback(page);
    await page.goto(installUrl('state-phone'));
    const fits = async (buttons: string[]) => {
      expect(await page.locator('html').evaluate((html) => html.scrollWidth)).toBeLessThanOrEqual(390);
      for (const name of buttons) {
        const box = await page.getByRole('button', { name, exact: true }).boundingBox();
        expect(box).not.toBeNull();
        expect((box?.x ?? -1) >= 0 && (box?.x ?? 0) + (box?.width ?? 0) <= 390).toBe(true);
      }
    };
    await fits(['Continue', 'Cancel']);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('heading', { name: 'Select an account' }).waitFor();
    await fits(['Continue', 'Back', 'Cancel']);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('heading', { name: `What ${APP_MANIFEST.name} can access` }).waitFor();
    await fits(['Install app', 'Back', 'Cancel']);
    await shot(page, '5-permissions-390px');
    await page.getByRole('button', { name: 'Install app' }).click();
    await page.getByRole('heading', { name: 'Installation successful' }).waitFor();
    expect(await page.locator('html').evaluate((html) => html.scrollWidth)).toBeLessThanOrEqual(390);
    registerSecret((await callback.sent).searchParams.get('code') as string);
    callback.release();
    await page.close();
  });

  it('the local stack answers in the browser', async () => {
    const page = await browser.newPage();
    const response = await page.goto(`${stack.url}/v1/health`);
    expect(response?.status()).toBe(200);
    expect(await page.textContent('body')).toContain('"status":"ok"');
    await page.close();
  });
});
