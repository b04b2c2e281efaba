import * as z from 'zod/mini';
import '../zod-locale.js';
import type { Mode } from '../domain/connection.js';
import { built, lazy } from '../lazy.js';

/**
 * The Stripe app's own secrets: its secret key per mode (for the token
 * endpoint) and the webhook endpoint secrets (a list, for rotation). In AWS
 * each is a Secrets Manager secret holding JSON of these shapes.
 */
export const appKeysSchema = lazy(() =>
  z.object({
    secretKeys: z.object({
      test: z.optional(z.string().check(z.startsWith('sk_test_'))),
      live: z.optional(z.string().check(z.startsWith('sk_live_'))),
    }),
  }),
);
/** Built on first use, like appKeysSchema: a function reads one of the two secrets. */
export const webhookSecretsSchema = lazy(() =>
  z.object({
    webhookSecrets: z.array(z.string().check(z.startsWith('whsec_'))),
  }),
);
export const appCredentialsSchema = /* @__PURE__ */ built(() =>
  z.extend(appKeysSchema(), {
    webhookSecrets: z._default(z.array(z.string().check(z.startsWith('whsec_'))), []),
  }),
);
export type AppCredentialsValue = z.infer<typeof appCredentialsSchema>;

export class AppCredentialsError extends Error {
  override name = 'AppCredentialsError';
}

export interface AppCredentials {
  secretKey(mode: Mode): Promise<string>;
  webhookSecrets(): Promise<string[]>;
}

/** Credentials held in memory (the local stack takes them from its sandbox; tests). */
export class StaticAppCredentials implements AppCredentials {
  constructor(private readonly value: AppCredentialsValue) {}
  async secretKey(mode: Mode): Promise<string> {
    const key = this.value.secretKeys[mode];
    if (!key) throw new AppCredentialsError(`no ${mode}-mode secret key is configured for the Stripe app`);
    return key;
  }
  async webhookSecrets(): Promise<string[]> {
    return this.value.webhookSecrets;
  }
}
