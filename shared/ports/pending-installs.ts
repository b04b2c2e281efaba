import type { Mode } from '../domain/connection.js';

/**
 * An install Stripe completed (the code exchanged, its tokens in the vault),
 * waiting for the Defrr user who started it to confirm it. Until then it
 * connects nothing; unconfirmed, it expires and the sweep deletes its secret.
 */
export interface PendingInstall {
  /** SHA-256 of the install token in the redirect: the token itself is never stored. */
  installHash: string;
  orgId: string;
  userId: string;
  mode: Mode;
  returnTo: string;
  /** The connection it becomes once confirmed, and the secret already holding its tokens. */
  connectionId: string;
  secretName: string;
  accountId: string;
  livemode: boolean;
  scope: string;
  createdAt: string;
  expiresAt: string;
  /** Set while a confirmation is being carried out (a crash leaves it to expire and be swept). */
  claimedAt?: string | null;
}

export interface PendingInstallStore {
  /** Written before the secret is created, so the sweep finds a secret whose install never finished. */
  put(install: PendingInstall): Promise<void>;
  get(installHash: string): Promise<PendingInstall | undefined>;
  /** Claims it for one confirmation, if not expired nor claimed: of two concurrent confirms, one wins. */
  claim(installHash: string, now: string): Promise<PendingInstall | undefined>;
  /** Gives up a claim after a confirmation failed, so the user can try again at once. */
  release(installHash: string, claimedAt: string): Promise<void>;
  delete(installHash: string): Promise<void>;
  /** Installs expired by `now` (confirmed ones are deleted): the sweep's. */
  expired(now: string): AsyncIterable<PendingInstall>;
}
