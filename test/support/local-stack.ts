import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadLocalConfig } from '../../local/config.js';
import { type LocalStack, type LocalStackOptions, startLocalStack } from '../../local/stack.js';
import type { Clock } from '../../shared/ports/clock.js';
import { confirmationTarget, expectScreen, openInstallLink, press } from './install-flow.js';
import { findSecrets, registerSecret } from './log-capture.js';

/** A clock tests can move. */
export class TestClock implements Clock {
  offsetMs = 0;
  now(): Date {
    return new Date(Date.now() + this.offsetMs);
  }
  advance(ms: number): void {
    this.offsetMs += ms;
  }
}

/** The whole local stack in this process, on free ports, in memory; its dev secrets registered with the log scanner. */
export async function startTestStack(
  env: Record<string, string> = {},
  options: LocalStackOptions = {},
): Promise<LocalStack & { clock: TestClock }> {
  const clock = (options.clock as TestClock | undefined) ?? new TestClock();
  const config = loadLocalConfig({
    PORT: '0',
    DYNAMODB_PORT: '0',
    STRIPE_SANDBOX_PORT: '0',
    DATA_DIR: mkdtempSync(join(tmpdir(), 'stack-')),
    STRIPE_TIMEOUT_MS: '2000',
    // Tests run the sweep themselves (stack.sweep()) when they mean to.
    LOCAL_SWEEP_SECONDS: '0',
    ...env,
  });
  const stack = await startLocalStack(config, { memory: true, ...options, clock });
  registerSecret(stack.sandbox.sandbox.secretKeys.test);
  registerSecret(stack.sandbox.sandbox.secretKeys.live);
  for (const secret of stack.sandbox.sandbox.allWebhookSecrets()) registerSecret(secret);
  return Object.assign(stack, { clock });
}

/**
 * How long the settle helpers wait: long enough for a loaded two-core
 * machine. A test's own jest timeout is the limit that matters; this one only
 * turns a hang into a message that says what was still busy.
 */
export const SETTLE_MS = 300_000;

/** Waits until the sandbox has delivered every webhook and the given local queues are drained. */
export async function settle(stack: LocalStack, queues: ReadonlyArray<'webhooks' | 'sync'> = ['webhooks']) {
  await stack.sandbox.sandbox.webhooksIdle(SETTLE_MS);
  for (const queue of queues) await stack.queues[queue].idle(SETTLE_MS);
}

export const DEMO_ACCOUNT = 'acct_1SbxDemoRoasters01';
export const BAKERY_ACCOUNT = 'acct_1SbxSmallBakery002';

export async function tokenFor(
  stack: LocalStack,
  orgId: string,
  role: 'admin' | 'member' = 'admin',
  sub?: string,
) {
  return stack.issuer.issue({ org: orgId, roles: [role], sub: sub ?? `user_${role}_${orgId}` });
}

export async function api(
  stack: LocalStack,
  method: string,
  path: string,
  options: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
) {
  const response = await fetch(`${stack.url}${path}`, {
    method,
    redirect: 'manual',
    headers: {
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
      ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...options.headers,
    },
    ...(options.body !== undefined
      ? { body: typeof options.body === 'string' ? options.body : JSON.stringify(options.body) }
      : {}),
  });
  const text = await response.text();
  assertNoSecrets(`${method} ${path} response`, text + JSON.stringify([...response.headers]));
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, json: json as Record<string, unknown> };
}

/** Starts a connect as an org admin; returns the install URL and the raw state. */
export async function startConnect(stack: LocalStack, orgId: string, body: Record<string, unknown> = {}) {
  const response = await api(stack, 'POST', '/v1/integrations/stripe/connect', {
    token: await tokenFor(stack, orgId),
    body,
  });
  if (response.status !== 200) throw new Error(`connect failed: ${response.status} ${response.text}`);
  const authorizeUrl = new URL(response.json.authorizeUrl as string);
  return {
    authorizeUrl,
    state: authorizeUrl.searchParams.get('state') as string,
    expiresAt: response.json.expiresAt as string,
  };
}

/**
 * What the user's browser does in Stripe's install flow, screen by screen as
 * the help page describes it: the app's page → Continue → Select an account
 * (`account`) → Continue → what the app can access → Install app (or Cancel)
 * → Installation successful. Returns the callback URL the browser is sent to
 * (with the code, or with access_denied after Cancel).
 */
export async function decide(
  stack: LocalStack,
  authorizeUrl: URL,
  decision: 'install' | 'cancel',
  account = DEMO_ACCOUNT,
): Promise<URL> {
  const link = new URL(`${authorizeUrl.pathname}${authorizeUrl.search}`, stack.sandbox.url);
  const appPage = await openInstallLink(link);
  if (appPage.status !== 200) throw new Error(`install link answered ${appPage.status} "${appPage.heading}"`);
  const accounts = expectScreen(await press(appPage, 'Continue'), 'Continue on the app page');
  const permissions = expectScreen(
    await press(accounts, 'Continue', { account }),
    `Continue with ${account} on Select an account`,
  );
  if (decision === 'cancel') {
    const cancelled = await press(permissions, 'Cancel');
    if (!('redirect' in cancelled) || cancelled.status !== 302)
      throw new Error('Cancel did not redirect to the callback');
    return cancelled.redirect;
  }
  const installed = expectScreen(await press(permissions, 'Install app'), 'Install app');
  const url = confirmationTarget(installed);
  const code = url.searchParams.get('code');
  if (code) registerSecret(code);
  return url;
}

/** Follows Stripe's redirect to our callback; returns where the callback sends the browser. */
export async function followCallback(callbackUrl: URL): Promise<URL> {
  const response = await fetch(callbackUrl, { redirect: 'manual' });
  const location = response.headers.get('location');
  if (response.status !== 302 || !location)
    throw new Error(`callback answered ${response.status}: ${await response.text()}`);
  // The install token is the one credential the redirect must carry (to the signed-in page that
  // confirms it); anything else token-shaped in it is a leak. Everywhere else it is a leak too.
  const landed = new URL(location);
  const scanned = new URL(landed);
  scanned.searchParams.delete('install');
  assertNoSecrets('callback redirect', scanned.toString());
  const install = landed.searchParams.get('install');
  if (install) registerSecret(install);
  return landed;
}

/** Responses and redirects are scanned like the logs: nothing token-shaped, no registered secret. */
function assertNoSecrets(what: string, text: string) {
  const leaks = findSecrets(text);
  if (leaks.length > 0) throw new Error(`${what} carries a secret: ${leaks.join(', ')}`);
}

/**
 * What the Defrr page does when the callback sends the browser back with
 * `stripe=confirm&install=…`: the signed-in user confirms the install.
 */
export async function confirmInstall(stack: LocalStack, landed: URL, token: string) {
  return api(stack, 'POST', '/v1/integrations/stripe/connect/confirm', {
    token,
    body: { install: landed.searchParams.get('install') },
  });
}

/**
 * The whole journey: connect, Install app (or Cancel) on the sandbox page,
 * back through the callback, and the page's confirmation by the same user.
 * `outcome` is `connected` once confirmed, else the callback's or the
 * confirmation's answer (`error`, with its `reason`).
 */
export async function connectOrg(
  stack: LocalStack,
  orgId: string,
  options: {
    account?: string;
    decision?: 'install' | 'cancel';
    body?: Record<string, unknown>;
    /** Who confirms (default: the admin who started it). */
    confirmWith?: string;
  } = {},
) {
  const starter = await tokenFor(stack, orgId);
  const { authorizeUrl } = await startConnect(stack, orgId, options.body);
  const callback = await decide(stack, authorizeUrl, options.decision ?? 'install', options.account);
  const landed = await followCallback(callback);
  if (landed.searchParams.get('stripe') !== 'confirm') {
    return {
      landed,
      callback,
      outcome: landed.searchParams.get('stripe'),
      reason: landed.searchParams.get('reason'),
    };
  }
  const confirmed = await confirmInstall(stack, landed, options.confirmWith ?? starter);
  const error = confirmed.json?.error as { code: string } | undefined;
  return {
    landed,
    callback,
    confirmed,
    outcome: confirmed.status === 200 ? 'connected' : 'error',
    reason: error?.code ?? null,
  };
}

/** No secret without a connection pointing at it, and no connection pointing at a missing secret. */
export async function assertSecretsConsistent(stack: LocalStack, orgIds: string[]) {
  const names = new Set(await stack.vault.names());
  const referenced = new Set<string>();
  for (const orgId of orgIds) {
    for (const connection of await stack.store.listConnections(orgId)) {
      if (!connection.secretName) continue;
      referenced.add(connection.secretName);
      if (connection.status === 'connected' && !names.has(connection.secretName)) {
        throw new Error(`connection ${connection.slot} of ${orgId} points to a missing secret`);
      }
    }
  }
  for (const name of names) {
    const owned = orgIds.some((orgId) => name.includes(`/${orgId}/`));
    if (owned && !referenced.has(name)) throw new Error(`orphaned secret ${name}`);
  }
}

export const tokenRequests = (stack: LocalStack) =>
  stack.sandbox.requests.filter((r) => r.route === 'POST /v1/oauth/token');
