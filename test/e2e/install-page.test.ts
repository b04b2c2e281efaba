import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { loadLocalConfig } from '../../local/config.js';
import { CALLBACK_PATH, type LocalStack, startLocalStack } from '../../local/stack.js';
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
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await stack?.close();
});

function installUrl(state: string) {
  const url = new URL(`${stack.sandbox.url}/oauth/v2/chnlink_e2e/authorize`);
  url.searchParams.set('client_id', stack.sandbox.sandbox.clientId);
  url.searchParams.set('redirect_uri', `${stack.url}${CALLBACK_PATH}`);
  url.searchParams.set('state', state);
  return url.toString();
}

describe('the Stripe sandbox install page in Chromium', () => {
  it('shows the test-version banner, the accounts and the permissions, and Install app redirects with a code', async () => {
    const page = await browser.newPage();
    await page.goto(installUrl('state-install'));
    await page.getByRole('status').waitFor();
    expect(await page.getByRole('status').textContent()).toContain('test version');
    expect(await page.locator('input[name=account]').count()).toBeGreaterThanOrEqual(2);
    expect(await page.textContent('body')).toContain('event_read');
    await page.screenshot({ path: join(ARTIFACTS, 'sandbox-install-page.png'), fullPage: true });
    await page.getByLabel(/Small Bakery/).check();
    const [request] = await Promise.all([
      page.waitForRequest((r) => r.url().includes(CALLBACK_PATH)),
      page.getByRole('button', { name: 'Install app' }).click(),
    ]);
    const back = new URL(request.url());
    expect(back.searchParams.get('state')).toBe('state-install');
    expect(back.searchParams.get('code')).toMatch(/^ac_/);
    registerSecret(back.searchParams.get('code') as string);
    expect(stack.sandbox.sandbox.isInstalled('acct_1SbxSmallBakery002', 'test')).toBe(true);
    await page.close();
  });

  it('Cancel redirects with access_denied and no code', async () => {
    const page = await browser.newPage();
    await page.goto(installUrl('state-cancel'));
    const [request] = await Promise.all([
      page.waitForRequest((r) => r.url().includes(CALLBACK_PATH)),
      page.getByRole('button', { name: 'Cancel' }).click(),
    ]);
    const back = new URL(request.url());
    expect(back.searchParams.get('error')).toBe('access_denied');
    expect(back.searchParams.get('state')).toBe('state-cancel');
    expect(back.searchParams.has('code')).toBe(false);
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
