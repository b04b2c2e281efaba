import type { Mode } from '../domain/connection.js';

/** What Stripe's token endpoint grants for one account. */
export interface TokenGrant {
  accessToken: string;
  refreshToken: string;
  accountId: string;
  livemode: boolean;
  scope: string;
}

/** Stripe refused the grant (`invalid_grant`: a used, expired or foreign code; a rotated refresh token). */
export class OAuthGrantError extends Error {
  override name = 'OAuthGrantError';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Stripe could not be reached or answered 429/5xx: nothing was decided, try later. */
export class StripeUnavailableError extends Error {
  override name = 'StripeUnavailableError';
  constructor(
    message: string,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Stripe Apps OAuth's token endpoint (`POST /v1/oauth/token`, Basic auth with the app's key). */
export interface StripeTokenClient {
  exchangeCode(mode: Mode, code: string): Promise<TokenGrant>;
  refresh(mode: Mode, refreshToken: string): Promise<TokenGrant>;
}
