/** The connection of one Defrr organisation to one Stripe account, and its lifecycle. */
export type Mode = 'test' | 'live';

/** `not_connected` is the absence of a connection; the others are stored. */
export type ConnectionStatus = 'connected' | 'needs_reauth' | 'revoked' | 'disconnected';
export type SyncRunState = 'idle' | 'queued' | 'running' | 'failed';
/** What the status shows: a `running` sync whose lease ran out (its worker died) is `interrupted`, resuming. */
export type SyncViewState = SyncRunState | 'interrupted';

export interface SyncError {
  /** A code the frontend can show a message for (`needs_reauth`, `stripe_unavailable`, …). */
  code: string;
  message: string;
  at: string;
}

export interface SyncStatus {
  state: SyncRunState;
  lastSuccessAt: string | null;
  lastError: SyncError | null;
  /** Records synced per resource, keyed as Stripe names them (`balance_transactions`, `charges`, …). */
  counts: Record<string, number>;
  progress: { resource: string; records: number } | null;
  queuedAt: string | null;
  /** How long the last successful run took. */
  durationMs?: number | null;
  /** Resources the last run could not sync, each with why (the others are up to date). */
  resourceErrors?: Record<string, SyncError> | null;
}

export const idleSync = (): SyncStatus => ({
  state: 'idle',
  lastSuccessAt: null,
  lastError: null,
  counts: {},
  progress: null,
  queuedAt: null,
});

export interface Connection {
  orgId: string;
  /** New for every successful connect: names the token secret and guards against stale writers. */
  connectionId: string;
  status: ConnectionStatus;
  /** Why the status is what it is (`invalid_grant`, `deauthorized`, `user`). */
  statusReason: string | null;
  accountId: string;
  /**
   * The account's name as its Dashboard shows it (`settings.dashboard.display_name`,
   * else `business_profile.name`): read by the first sync run. Undefined until then;
   * null when the account has none.
   */
  accountName?: string | null;
  livemode: boolean;
  scope: string;
  /** The Secrets Manager secret holding the tokens; null once deleted. */
  secretName: string | null;
  connectedAt: string;
  connectedBy: string;
  updatedAt: string;
  /** Optimistic concurrency for status changes. */
  version: number;
  sync: SyncStatus;
  /** Until when (ms) the running sync's worker holds the connection; renewed while it works. */
  syncLeaseUntil?: number | null;
  /** How many times a sync lease was taken: a webhook writer tells from it that a run began meanwhile. */
  syncLeaseEpoch?: number;
  /** A webhook left its change to the running sync: when that run ends, another reads it. */
  syncAgain?: boolean;
  /**
   * Set when the stored counts may be off (a run or webhook died between a write and its count):
   * the next run counts again. A token, so that one run clears only the doubt it resolved.
   */
  countsInDoubt?: string | null;
}

export interface OAuthState {
  /** SHA-256 of the state value, hex: the raw state is never stored. */
  stateHash: string;
  orgId: string;
  userId: string;
  mode: Mode;
  /** The allow-listed frontend URL to send the browser back to. */
  returnTo: string;
  /** ISO time; checked in code (DynamoDB's TTL only cleans up, and late). */
  expiresAt: string;
}

/** Routes a Stripe account's webhook events to the org(s) connected to it. */
export interface AccountLink {
  accountId: string;
  orgId: string;
  connectionId: string;
  livemode: boolean;
}

export const STATE_TTL_MS = 10 * 60 * 1000;
