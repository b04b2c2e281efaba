import Stripe from 'stripe';
import type { Mode } from '../../local/stripe-sandbox/account-data.js';
import {
  type SandboxServerOptions,
  type StripeSandbox,
  startStripeSandbox,
} from '../../local/stripe-sandbox/server.js';
import { registerSecret } from './log-capture.js';

/** A sandbox on a free loopback port, its dev secrets registered with the log scanner. */
export async function startTestSandbox(options: SandboxServerOptions = {}): Promise<StripeSandbox> {
  const sandbox = await startStripeSandbox({ port: 0, webhookRetryBaseMs: 20, ...options });
  registerSecret(sandbox.sandbox.secretKeys.test);
  registerSecret(sandbox.sandbox.secretKeys.live);
  for (const secret of sandbox.sandbox.webhookSecrets) registerSecret(secret);
  return sandbox;
}

export function stripeFor(sandbox: StripeSandbox, apiKey: string, options: Stripe.StripeConfig = {}): Stripe {
  return new Stripe(apiKey, { ...sandbox.stripeOptions, maxNetworkRetries: 0, ...options });
}

export interface TokenResponse {
  access_token: string;
  refresh_token: string;
  token_type: string;
  scope: string;
  livemode: boolean;
  stripe_user_id: string;
  stripe_publishable_key: string;
}

/** Calls `/v1/oauth/token` the way Stripe documents it: Basic auth with the app's key, form body. */
export async function oauthToken(
  sandbox: StripeSandbox,
  secretKey: string,
  form: Record<string, string>,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${sandbox.url}/v1/oauth/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${secretKey}:`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams(form).toString(),
  });
  const body = (await response.json()) as Record<string, unknown>;
  for (const key of ['access_token', 'refresh_token']) {
    if (typeof body[key] === 'string') registerSecret(body[key] as string);
  }
  return { status: response.status, body };
}

/** Installs the app on an account (as if the user clicked Install) and exchanges the code. */
export async function connectAccount(
  sandbox: StripeSandbox,
  account: string,
  mode: Mode = 'test',
): Promise<TokenResponse> {
  const code = sandbox.sandbox.install(account, mode);
  registerSecret(code);
  const { status, body } = await oauthToken(sandbox, sandbox.sandbox.secretKeys[mode], {
    grant_type: 'authorization_code',
    code,
  });
  if (status !== 200) throw new Error(`token exchange failed: ${status}`);
  return body as unknown as TokenResponse;
}
