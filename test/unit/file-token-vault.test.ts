import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileTokenVault } from '../../local/adapters/file-token-vault.js';
import { sampleTokens, tokenVaultContract } from '../support/token-vault-contract.js';

const dir = mkdtempSync(join(tmpdir(), 'vault-'));
const key = randomBytes(32);

tokenVaultContract('FileTokenVault in memory', () => new FileTokenVault(randomBytes(32)));
tokenVaultContract('FileTokenVault on disk', () => new FileTokenVault(key, join(dir, 'contract.json')));

describe('FileTokenVault at rest', () => {
  it('keeps no token in plain text on disk, with owner-only permissions', async () => {
    const file = join(dir, 'plain.json');
    const tokens = sampleTokens();
    await new FileTokenVault(key, file).create('conn-1', tokens, { org: 'org_1' });
    const text = readFileSync(file, 'utf8');
    expect(text).not.toContain(tokens.accessToken);
    expect(text).not.toContain(tokens.refreshToken);
    const { statSync } = await import('node:fs');
    expect(statSync(file).mode & 0o077).toBe(0);
  });

  it('reads back what another instance wrote (a restart keeps the tokens)', async () => {
    const file = join(dir, 'restart.json');
    const tokens = sampleTokens();
    await new FileTokenVault(key, file).create('conn-1', tokens, {});
    await expect(new FileTokenVault(key, file).read('conn-1')).resolves.toEqual(tokens);
  });

  it('refuses a tampered value, a value moved to another name, and the wrong key', async () => {
    const file = join(dir, 'tamper.json');
    await new FileTokenVault(key, file).create('conn-a', sampleTokens(), {});
    await new FileTokenVault(key, file).create('conn-b', sampleTokens(), {});
    await expect(new FileTokenVault(randomBytes(32), file).read('conn-a')).rejects.toThrow();
    const saved = JSON.parse(readFileSync(file, 'utf8'));
    saved['conn-b'].sealed = saved['conn-a'].sealed;
    writeFileSync(file, JSON.stringify(saved));
    await expect(new FileTokenVault(key, file).read('conn-b')).rejects.toThrow();
    const flipped = JSON.parse(readFileSync(file, 'utf8'));
    const data = Buffer.from(flipped['conn-a'].sealed.data, 'base64');
    data[0] = (data[0] ?? 0) ^ 1;
    flipped['conn-a'].sealed.data = data.toString('base64');
    writeFileSync(file, JSON.stringify(flipped));
    await expect(new FileTokenVault(key, file).read('conn-a')).rejects.toThrow();
  });

  it('refuses a key that is not 32 bytes', () => {
    expect(() => new FileTokenVault(randomBytes(16))).toThrow('32 bytes');
  });
});
