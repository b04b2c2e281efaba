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

/**
 * Which of an org's connections: one per Stripe account and mode. `slot` names the item
 * (`stripe#<mode>#<account>`; `stripe` for the one connection an org had before it could
 * have several, kept in place and addressed the same way).
 */
export interface ConnectionRef {
  orgId: string;
  slot: string;
}

/** The slot of the org's connection as older code stored it (one per org). */
export const LEGACY_SLOT = 'stripe';
export const slotFor = (mode: Mode, accountId: string) => `stripe#${mode}#${accountId}`;
export const refOf = (c: { orgId: string; slot?: string | undefined }): ConnectionRef => ({
  orgId: c.orgId,
  slot: c.slot ?? LEGACY_SLOT,
});
export const modeOf = (c: { livemode: boolean }): Mode => (c.livemode ? 'live' : 'test');

/**
 * The id a client names a connection by (`test_acct_…`, `live_acct_…`): stable across
 * re-authorisations, unique within the org, and the same whichever slot holds it.
 */
export const publicConnectionId = (c: { livemode: boolean; accountId: string }) =>
  `${modeOf(c)}_${c.accountId}`;
const PUBLIC_ID = /^(test|live)_(acct_[A-Za-z0-9]{1,64})$/;
export function parseConnectionId(id: string): { mode: Mode; accountId: string } | undefined {
  const match = PUBLIC_ID.exec(id);
  return match ? { mode: match[1] as Mode, accountId: match[2] as string } : undefined;
}

/** An admin asked to erase a connection's records (it is disconnected first). Resumable. */
export interface Erasure {
  state: 'queued' | 'running' | 'done';
  requestedAt: string;
  finishedAt: string | null;
  /** Items deleted so far (records, line pages, the counts). */
  items: number;
  /** Where the erase stands in the partition (its next run resumes after it). */
  after?: string | null;
  /** Until when (ms) a running erase holds the connection (a second worker leaves it be). */
  leaseUntil?: number | null;
  /** Set when the erase began: what was written before it goes. */
  cutoff?: string | null;
  /** The worker that holds the erase (until `leaseUntil`): only it writes the progress. */
  owner?: string | null;
}

/**
 * A full re-sync an admin asked for: the chosen resources are read again from the start, and
 * what Stripe no longer returns is marked deleted. Resumable across runs.
 */
export interface FullSync {
  id: string;
  resources: string[];
  state: 'pending' | 'running' | 'done';
  requestedAt: string;
  /** When its first run began: records written since then are Stripe's (they were just read). */
  startedAt: string | null;
  finishedAt: string | null;
  /** Resources whose unseen records were marked deleted. */
  swept: string[];
  /** Where the sweep of the resource in progress stands. */
  sweepAfter?: string | null;
  added: number;
  updated: number;
  deleted: number;
}

/**
 * A full re-sync of `resources`, asked for at `requestedAt`: by an admin, or by a reconnect
 * (the records the connection kept were written before it, and what Stripe deleted meanwhile
 * only a pass that reads everything and marks the unseen can find).
 */
export function newFullPass(id: string, resources: string[], requestedAt: string): FullSync {
  return {
    id,
    resources,
    state: 'pending',
    requestedAt,
    startedAt: null,
    finishedAt: null,
    swept: [],
    added: 0,
    updated: 0,
    deleted: 0,
  };
}

export interface Connection {
  orgId: string;
  /** Its item among the org's connections (see ConnectionRef). */
  slot: string;
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
  /**
   * When Stripe granted the install (the callback's code exchange), up to the install link's ten
   * minutes before `connectedAt`: an uninstall older than this is an earlier install's. Unset on
   * connections made before it was kept (their `connectedAt` stands in).
   */
  authorizedAt?: string;
  /**
   * When Stripe says the app was uninstalled (`account.application.deauthorized`'s `created`), for
   * an uninstall within the clocks' allowance of `authorizedAt`: it may be this install's or the one
   * before it. The next sync decides: a refresh Stripe refuses (`invalid_grant`) ends the connection
   * as revoked, a run whose requests Stripe answered clears it.
   */
  uninstallInDoubt?: string;
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
  erasure?: Erasure | null;
  fullSync?: FullSync | null;
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
  /** The connection's slot (links written before there were several say none: the legacy one). */
  slot: string;
  connectionId: string;
  livemode: boolean;
}

export const STATE_TTL_MS = 10 * 60 * 1000;
