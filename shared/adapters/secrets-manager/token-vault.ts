import {
  CreateSecretCommand,
  DeleteSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import {
  SecretExistsError,
  SecretNotFoundError,
  type StripeTokens,
  stripeTokensSchema,
  type TokenVault,
} from '../../ports/token-vault.js';

const errorName = (error: unknown) => (error as { name?: string } | undefined)?.name;

/**
 * Connection tokens in Secrets Manager: one secret per connection, encrypted
 * with the service's KMS key, tagged with org and account, deleted with no
 * recovery window when the connection ends.
 */
export class SecretsManagerTokenVault implements TokenVault {
  constructor(
    private readonly client: SecretsManagerClient,
    private readonly kmsKeyId?: string,
  ) {}

  async create(name: string, tokens: StripeTokens, tags: Record<string, string>): Promise<void> {
    try {
      await this.client.send(
        new CreateSecretCommand({
          Name: name,
          SecretString: JSON.stringify(stripeTokensSchema().parse(tokens)),
          Description: 'Stripe Apps OAuth tokens of one Defrr connection',
          ...(this.kmsKeyId ? { KmsKeyId: this.kmsKeyId } : {}),
          Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
        }),
      );
    } catch (error) {
      if (errorName(error) === 'ResourceExistsException')
        throw new SecretExistsError(`secret ${name} already exists`, { cause: error });
      throw error;
    }
  }

  async read(name: string): Promise<StripeTokens | undefined> {
    try {
      const { SecretString } = await this.client.send(new GetSecretValueCommand({ SecretId: name }));
      return SecretString ? stripeTokensSchema().parse(JSON.parse(SecretString)) : undefined;
    } catch (error) {
      // A secret scheduled for deletion answers InvalidRequestException: gone, for us.
      if (errorName(error) === 'ResourceNotFoundException' || errorName(error) === 'InvalidRequestException')
        return undefined;
      throw error;
    }
  }

  async write(name: string, tokens: StripeTokens): Promise<void> {
    try {
      await this.client.send(
        new PutSecretValueCommand({
          SecretId: name,
          SecretString: JSON.stringify(stripeTokensSchema().parse(tokens)),
        }),
      );
    } catch (error) {
      if (
        errorName(error) === 'ResourceNotFoundException' ||
        errorName(error) === 'InvalidRequestException'
      ) {
        throw new SecretNotFoundError(`secret ${name} does not exist`, { cause: error });
      }
      throw error;
    }
  }

  async delete(name: string): Promise<void> {
    try {
      await this.client.send(new DeleteSecretCommand({ SecretId: name, ForceDeleteWithoutRecovery: true }));
    } catch (error) {
      if (errorName(error) === 'ResourceNotFoundException') return;
      throw error;
    }
  }
}
