import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Mode } from '../../domain/connection.js';
import {
  type AppCredentials,
  AppCredentialsError,
  type AppCredentialsValue,
  appCredentialsSchema,
  StaticAppCredentials,
} from '../../ports/app-credentials.js';

/**
 * The app's credentials from one Secrets Manager secret, read once per
 * container and cached for `ttlMs` (so a rotated key is picked up without a
 * deploy). A malformed secret fails loudly without quoting its value.
 */
export class SecretsManagerAppCredentials implements AppCredentials {
  private cached: { at: number; value: Promise<StaticAppCredentials> } | undefined;

  constructor(
    private readonly client: SecretsManagerClient,
    private readonly secretId: string,
    private readonly ttlMs = 5 * 60 * 1000,
    private readonly now: () => number = Date.now,
  ) {}

  private load(): Promise<StaticAppCredentials> {
    if (this.cached && this.now() - this.cached.at < this.ttlMs) return this.cached.value;
    const value = this.fetch();
    this.cached = { at: this.now(), value };
    value.catch(() => {
      this.cached = undefined; // do not cache a failure
    });
    return value;
  }

  private async fetch(): Promise<StaticAppCredentials> {
    const { SecretString } = await this.client.send(new GetSecretValueCommand({ SecretId: this.secretId }));
    if (!SecretString)
      throw new AppCredentialsError(`the app credentials secret ${this.secretId} has no value yet`);
    let parsed: AppCredentialsValue;
    try {
      parsed = appCredentialsSchema.parse(JSON.parse(SecretString));
    } catch {
      throw new AppCredentialsError(
        `the app credentials secret ${this.secretId} is not JSON of the documented shape ({"secretKeys":{"test","live"},"webhookSecrets":[…]})`,
      );
    }
    return new StaticAppCredentials(parsed);
  }

  async secretKey(mode: Mode): Promise<string> {
    return (await this.load()).secretKey(mode);
  }

  async webhookSecrets(): Promise<string[]> {
    return (await this.load()).webhookSecrets();
  }
}
