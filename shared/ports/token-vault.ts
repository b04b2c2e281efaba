import * as z from 'zod/mini';
import '../zod-locale.js';
import { lazy } from '../lazy.js';

/**
 * What Stripe's token endpoint gave us for one connection. Made on first use: a function that
 * only deletes secrets (connect-confirm, disconnect) never parses tokens.
 */
export const stripeTokensSchema = lazy(() =>
  z.object({
    accessToken: z.string().check(z.minLength(1)),
    refreshToken: z.string().check(z.minLength(1)),
    accountId: z.string().check(z.startsWith('acct_')),
    livemode: z.boolean(),
    scope: z.string(),
    /** When the access token was issued (ISO time): Stripe sends no `expires_in`; it lives one hour. */
    obtainedAt: z.iso.datetime(),
  }),
);
export type StripeTokens = z.infer<ReturnType<typeof stripeTokensSchema>>;

export class SecretExistsError extends Error {
  override name = 'SecretExistsError';
}
export class SecretNotFoundError extends Error {
  override name = 'SecretNotFoundError';
}

/**
 * Where connection tokens live: Secrets Manager in AWS (one secret per
 * connection, the service's KMS key), an encrypted file locally. Nothing else
 * in the service ever holds a token at rest.
 */
export interface TokenVault {
  /** Creates the secret; SecretExistsError if the name is taken. */
  create(name: string, tokens: StripeTokens, tags: Record<string, string>): Promise<void>;
  /** The tokens, or undefined when there is no such secret. */
  read(name: string): Promise<StripeTokens | undefined>;
  /** Replaces the value of an existing secret; SecretNotFoundError if there is none. */
  write(name: string, tokens: StripeTokens): Promise<void>;
  /** Deletes at once, with no recovery window. Deleting a missing secret is not an error. */
  delete(name: string): Promise<void>;
}
