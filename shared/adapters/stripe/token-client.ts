import * as z from 'zod/mini';
import '../../zod-locale.js';
import type { Mode } from '../../domain/connection.js';
import { lazy } from '../../lazy.js';
import type { AppCredentials } from '../../ports/app-credentials.js';
import {
  OAuthGrantError,
  type StripeTokenClient,
  StripeUnavailableError,
  type TokenGrant,
} from '../../ports/stripe-token-client.js';

const grantSchema = z
  .object({
    access_token: z.string().check(z.minLength(1)),
    refresh_token: z.string().check(z.minLength(1)),
    stripe_user_id: z.optional(z.string().check(z.startsWith('acct_'))),
    // Unconfirmed (STRIPE.md): a refresh response may name the account `account_id`.
    account_id: z.optional(z.string().check(z.startsWith('acct_'))),
    livemode: z.boolean(),
    scope: z._default(z.string(), 'stripe_apps'),
  })
  .check(z.refine((g) => Boolean(g.stripe_user_id ?? g.account_id), 'no account id in the token response'));

// Built when Stripe answers an error, not at every cold start.
const oauthErrorSchema = lazy(() =>
  z.object({ error: z.string(), error_description: z.optional(z.string()) }),
);
const apiErrorSchema = lazy(() =>
  z.object({ error: z.object({ type: z.string(), code: z.optional(z.string()) }) }),
);

/**
 * Stripe Apps OAuth over plain HTTPS (stripe-node's `oauth.token()` is the
 * legacy Connect endpoint). Error messages never carry the code or a token.
 */
export class HttpStripeTokenClient implements StripeTokenClient {
  constructor(
    private readonly credentials: AppCredentials,
    private readonly apiBase: string,
    private readonly timeoutMs = 10_000,
    private readonly fetchImpl: typeof fetch = fetch,
  ) {}

  exchangeCode(mode: Mode, code: string): Promise<TokenGrant> {
    return this.grant(mode, { grant_type: 'authorization_code', code });
  }

  refresh(mode: Mode, refreshToken: string): Promise<TokenGrant> {
    return this.grant(mode, { grant_type: 'refresh_token', refresh_token: refreshToken });
  }

  private async grant(mode: Mode, form: Record<string, string>): Promise<TokenGrant> {
    const key = await this.credentials.secretKey(mode);
    let response: Response;
    try {
      response = await this.fetchImpl(new URL('/v1/oauth/token', this.apiBase), {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`${key}:`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: new URLSearchParams(form).toString(),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      const timedOut = (error as Error).name === 'TimeoutError';
      throw new StripeUnavailableError(
        timedOut
          ? `Stripe's token endpoint did not answer within ${this.timeoutMs} ms`
          : "Stripe's token endpoint could not be reached",
        undefined,
        { cause: timedOut ? undefined : (error as Error).name },
      );
    }
    const text = await response.text();
    if (response.status === 429 || response.status >= 500) {
      throw new StripeUnavailableError(
        `Stripe's token endpoint answered ${response.status}`,
        response.status,
      );
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new StripeUnavailableError(
        `Stripe's token endpoint answered ${response.status} with no JSON`,
        response.status,
      );
    }
    if (!response.ok) {
      const oauth = oauthErrorSchema().safeParse(body);
      if (oauth.success)
        throw new OAuthGrantError(
          oauth.data.error,
          `Stripe refused the ${form.grant_type} grant: ${oauth.data.error}`,
        );
      const api = apiErrorSchema().safeParse(body);
      const code =
        response.status === 401
          ? 'invalid_client'
          : (api.data?.error.code ?? api.data?.error.type ?? 'unknown');
      throw new OAuthGrantError(
        code,
        `Stripe refused the ${form.grant_type} grant (${response.status} ${code})`,
      );
    }
    const parsed = grantSchema.safeParse(body);
    if (!parsed.success)
      throw new StripeUnavailableError(
        "Stripe's token response was not of the expected shape",
        response.status,
      );
    const g = parsed.data;
    return {
      accessToken: g.access_token,
      refreshToken: g.refresh_token,
      accountId: (g.stripe_user_id ?? g.account_id) as string,
      livemode: g.livemode,
      scope: g.scope,
    };
  }
}
