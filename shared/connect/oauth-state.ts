import { createHash, randomBytes } from 'node:crypto';

/** A fresh OAuth `state`: 32 random bytes for the URL, and the SHA-256 we store instead of it. */
export function newOAuthState(): { value: string; hash: string } {
  const value = randomBytes(32).toString('base64url');
  return { value, hash: hashOAuthState(value) };
}

export function hashOAuthState(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex');
}
