import {
  SecretExistsError,
  SecretNotFoundError,
  type StripeTokens,
  type TokenVault,
} from '../../shared/ports/token-vault.js';

export function sampleTokens(overrides: Partial<StripeTokens> = {}): StripeTokens {
  return {
    accessToken: `sk_test_contract_${Math.random().toString(36).slice(2)}`,
    refreshToken: `rt_contract${Math.random().toString(36).slice(2)}`,
    accountId: 'acct_1ContractTest0001',
    livemode: false,
    scope: 'stripe_apps',
    obtainedAt: new Date('2026-11-01T10:00:00.000Z').toISOString(),
    ...overrides,
  };
}

/**
 * The behaviour every TokenVault must have, run against each implementation:
 * the local file vault, and Secrets Manager (on moto's server).
 */
export function tokenVaultContract(name: string, makeVault: () => TokenVault | Promise<TokenVault>) {
  describe(`${name} (TokenVault contract)`, () => {
    let vault: TokenVault;
    let n = 0;
    const secretName = () => `defrr/stripe/test/contract-${Date.now().toString(36)}-${n++}`;
    beforeEach(async () => {
      vault = await makeVault();
    });

    it('creates a secret and reads the same tokens back', async () => {
      const name = secretName();
      const tokens = sampleTokens();
      await vault.create(name, tokens, { org: 'org_1', account: tokens.accountId });
      await expect(vault.read(name)).resolves.toEqual(tokens);
    });

    it('refuses to create a name that exists, keeping the first value', async () => {
      const name = secretName();
      const first = sampleTokens();
      await vault.create(name, first, { org: 'org_1' });
      await expect(vault.create(name, sampleTokens(), { org: 'org_1' })).rejects.toBeInstanceOf(
        SecretExistsError,
      );
      await expect(vault.read(name)).resolves.toEqual(first);
    });

    it('reads a missing secret as undefined', async () => {
      await expect(vault.read(secretName())).resolves.toBeUndefined();
    });

    it('replaces the value of an existing secret, and refuses to write a missing one', async () => {
      const name = secretName();
      await vault.create(name, sampleTokens(), {});
      const rotated = sampleTokens({ refreshToken: 'rt_rotatedrotatedrotated' });
      await vault.write(name, rotated);
      await expect(vault.read(name)).resolves.toEqual(rotated);
      await expect(vault.write(secretName(), rotated)).rejects.toBeInstanceOf(SecretNotFoundError);
    });

    it('deletes at once, and deleting again is not an error', async () => {
      const name = secretName();
      await vault.create(name, sampleTokens(), {});
      await vault.delete(name);
      await expect(vault.read(name)).resolves.toBeUndefined();
      await expect(vault.delete(name)).resolves.toBeUndefined();
      // No recovery window: the name can be used again straight away.
      await expect(vault.create(name, sampleTokens(), {})).resolves.toBeUndefined();
    });

    it('keeps concurrent writes to different secrets apart', async () => {
      const names = Array.from({ length: 8 }, () => secretName());
      const values = names.map(() => sampleTokens());
      await Promise.all(names.map((name, i) => vault.create(name, values[i] as StripeTokens, {})));
      const read = await Promise.all(names.map((name) => vault.read(name)));
      expect(read).toEqual(values);
    });
  });
}
