import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import {
  SecretExistsError,
  SecretNotFoundError,
  type StripeTokens,
  stripeTokensSchema,
  type TokenVault,
} from '../../shared/ports/token-vault.js';

interface Sealed {
  iv: string;
  tag: string;
  data: string;
}

/**
 * The local token vault: one file, every secret sealed on its own with
 * AES-256-GCM (random 96-bit IV, the secret's name as associated data, so a
 * sealed value cannot be moved to another name). In memory when `file` is unset.
 */
export class FileTokenVault implements TokenVault {
  private secrets: Map<string, { sealed: Sealed; tags: Record<string, string> }> | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly key: Buffer,
    private readonly file?: string,
  ) {
    if (key.length !== 32) throw new Error('the vault key must be 32 bytes');
  }

  /** Serialises operations so concurrent writes cannot lose one another. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async load() {
    if (this.secrets) return this.secrets;
    this.secrets = new Map();
    if (this.file) {
      try {
        const saved = JSON.parse(await readFile(this.file, 'utf8')) as Record<
          string,
          { sealed: Sealed; tags: Record<string, string> }
        >;
        for (const [name, value] of Object.entries(saved)) this.secrets.set(name, value);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
    }
    return this.secrets;
  }

  private async persist() {
    if (!this.file || !this.secrets) return;
    await mkdir(dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(Object.fromEntries(this.secrets)), { mode: 0o600 });
    await chmod(tmp, 0o600);
    await rename(tmp, this.file);
  }

  private seal(name: string, tokens: StripeTokens): Sealed {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(name));
    const data = Buffer.concat([cipher.update(JSON.stringify(tokens), 'utf8'), cipher.final()]);
    return {
      iv: iv.toString('base64'),
      tag: cipher.getAuthTag().toString('base64'),
      data: data.toString('base64'),
    };
  }

  private open(name: string, sealed: Sealed): StripeTokens {
    const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(sealed.iv, 'base64'));
    decipher.setAAD(Buffer.from(name));
    decipher.setAuthTag(Buffer.from(sealed.tag, 'base64'));
    const text = Buffer.concat([
      decipher.update(Buffer.from(sealed.data, 'base64')),
      decipher.final(),
    ]).toString('utf8');
    return stripeTokensSchema().parse(JSON.parse(text));
  }

  create(name: string, tokens: StripeTokens, tags: Record<string, string>): Promise<void> {
    return this.exclusive(async () => {
      const secrets = await this.load();
      if (secrets.has(name)) throw new SecretExistsError(`secret ${name} already exists`);
      secrets.set(name, { sealed: this.seal(name, stripeTokensSchema().parse(tokens)), tags: { ...tags } });
      await this.persist();
    });
  }

  read(name: string): Promise<StripeTokens | undefined> {
    return this.exclusive(async () => {
      const entry = (await this.load()).get(name);
      return entry ? this.open(name, entry.sealed) : undefined;
    });
  }

  write(name: string, tokens: StripeTokens): Promise<void> {
    return this.exclusive(async () => {
      const secrets = await this.load();
      const entry = secrets.get(name);
      if (!entry) throw new SecretNotFoundError(`secret ${name} does not exist`);
      secrets.set(name, { ...entry, sealed: this.seal(name, stripeTokensSchema().parse(tokens)) });
      await this.persist();
    });
  }

  delete(name: string): Promise<void> {
    return this.exclusive(async () => {
      const secrets = await this.load();
      if (secrets.delete(name)) await this.persist();
    });
  }

  /** The names of every secret held (for tests and the local console); never the values. */
  async names(): Promise<string[]> {
    return this.exclusive(async () => [...(await this.load()).keys()]);
  }

  /** Tags of a secret (for tests and the local console); never the value. */
  async tags(name: string): Promise<Record<string, string> | undefined> {
    return (await this.exclusive(async () => (await this.load()).get(name)))?.tags;
  }
}
