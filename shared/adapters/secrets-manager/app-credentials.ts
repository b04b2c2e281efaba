import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import * as z from 'zod/mini';
import type * as core from 'zod/v4/core';
import type { Mode } from '../../domain/connection.js';
import { logger } from '../../logger.js';
import {
  type AppCredentials,
  AppCredentialsError,
  appKeysSchema,
  webhookSecretsSchema,
} from '../../ports/app-credentials.js';

/**
 * A secret an operator must fill after the first deploy, found still empty: one
 * clear log line naming it (never its value) and the `SecretNotConfigured` metric,
 * which an alarm watches. Emitted at once (a single-metric flush), since not every
 * function that reads a secret flushes metrics at the end of its invocation. Powertools'
 * metrics load then: a function that emits no other metric (oauth-callback) does not pay
 * for them at every cold start.
 */
export async function reportUnconfigured(secretId: string, missing: string): Promise<void> {
  logger.error(
    `secret not configured: ${secretId} holds no ${missing}; put it there (README: after the first deploy)`,
    { secretId },
  );
  const { MetricNames, metrics } = await import('../../metrics.js');
  const single = metrics.singleMetric();
  single.addMetric(MetricNames.secretNotConfigured, 'Count', 1);
}

/**
 * One JSON secret, read once per container and cached for `ttlMs` (so a
 * rotated value is picked up without a deploy). A malformed secret fails
 * loudly without quoting its value; a failed read is not cached. `unfilled`
 * says what an empty value lacks: reported once per read (every `ttlMs`).
 */
export class CachedJsonSecret<S extends core.$ZodType> {
  private cached: { at: number; value: Promise<core.output<S>> } | undefined;

  constructor(
    private readonly client: SecretsManagerClient,
    private readonly secretId: string,
    private readonly schema: S,
    private readonly shape: string,
    private readonly ttlMs = 5 * 60 * 1000,
    private readonly now: () => number = Date.now,
    private readonly unfilled: (value: core.output<S>) => string | undefined = () => undefined,
  ) {}

  get(): Promise<core.output<S>> {
    if (this.cached && this.now() - this.cached.at < this.ttlMs) return this.cached.value;
    const value = this.fetch();
    this.cached = { at: this.now(), value };
    value.catch(() => {
      this.cached = undefined;
    });
    return value;
  }

  private async fetch(): Promise<core.output<S>> {
    const { SecretString } = await this.client.send(new GetSecretValueCommand({ SecretId: this.secretId }));
    if (!SecretString) throw new AppCredentialsError(`the secret ${this.secretId} has no value yet`);
    let value: core.output<S>;
    try {
      value = z.parse(this.schema, JSON.parse(SecretString));
    } catch {
      throw new AppCredentialsError(
        `the secret ${this.secretId} is not JSON of the documented shape (${this.shape})`,
      );
    }
    const missing = this.unfilled(value);
    if (missing) await reportUnconfigured(this.secretId, missing);
    return value;
  }
}

/**
 * The Stripe app's credentials from Secrets Manager. The secret keys and the
 * webhook signing secrets live in two secrets, so the public webhook intake can
 * read the signing secrets without being able to read the app's secret keys.
 */
export class SecretsManagerAppCredentials implements AppCredentials {
  private readonly keys: CachedJsonSecret<ReturnType<typeof appKeysSchema>> | undefined;
  private readonly webhooks: CachedJsonSecret<ReturnType<typeof webhookSecretsSchema>> | undefined;

  constructor(
    client: SecretsManagerClient,
    ids: { keysSecretId?: string; webhookSecretsSecretId?: string },
    ttlMs?: number,
  ) {
    this.keys = ids.keysSecretId
      ? new CachedJsonSecret(
          client,
          ids.keysSecretId,
          appKeysSchema(),
          '{"secretKeys":{"test":"sk_test_…","live":"sk_live_…"}}',
          ttlMs,
          undefined,
          (v) =>
            v.secretKeys.test || v.secretKeys.live ? undefined : 'secret key (secretKeys.test or .live)',
        )
      : undefined;
    this.webhooks = ids.webhookSecretsSecretId
      ? new CachedJsonSecret(
          client,
          ids.webhookSecretsSecretId,
          webhookSecretsSchema(),
          '{"webhookSecrets":["whsec_…"]}',
          ttlMs,
          undefined,
          (v) => (v.webhookSecrets.length > 0 ? undefined : 'webhook signing secret (webhookSecrets)'),
        )
      : undefined;
  }

  async secretKey(mode: Mode): Promise<string> {
    if (!this.keys) throw new AppCredentialsError('this function has no access to the app secret keys');
    const key = (await this.keys.get()).secretKeys[mode];
    if (!key) throw new AppCredentialsError(`no ${mode}-mode secret key is configured for the Stripe app`);
    return key;
  }

  async webhookSecrets(): Promise<string[]> {
    if (!this.webhooks) throw new AppCredentialsError('this function has no access to the webhook secrets');
    return (await this.webhooks.get()).webhookSecrets;
  }
}
