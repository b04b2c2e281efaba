import type {
  Connection,
  ConnectionRef,
  ConnectionStatus,
  Erasure,
  FullSync,
  SyncStatus,
} from '../domain/connection.js';
import type { AccountLinkStore } from './account-links.js';
import type { AllowanceStore } from './allowances.js';
import type { OAuthStateStore } from './oauth-states.js';
import type { OrphanedSecretStore } from './orphaned-secrets.js';

/** Another writer changed the connection first; re-read and decide again. */
export class VersionConflictError extends Error {
  override name = 'VersionConflictError';
}

/** A status change for `ConnectionStore.transition`. */
export interface StatusTransition {
  connectionId: string;
  to: ConnectionStatus;
  reason: string;
  /** The statuses it may leave; any when absent. */
  from?: ConnectionStatus[];
  at: string;
}

/**
 * An org's connections: their status, sync state, leases and queue marks, the full
 * re-sync and erase asked for. Only single-item conditional writes: every multi-item flow
 * is ordered so a crash between two writes leaves nothing that points at something missing.
 */
export interface Connections {
  getConnection(ref: ConnectionRef): Promise<Connection | undefined>;
  /** Every connection of the org (whatever its status), the one older code kept per org included. */
  listConnections(orgId: string): Promise<Connection[]>;
  /**
   * Writes the whole connection if the stored version is `expectedVersion`
   * (`null`: none stored). VersionConflictError otherwise. `syncDueAt`: its
   * sync is queued, and due for the sweep then if its message never comes.
   */
  putConnection(connection: Connection, expectedVersion: number | null, syncDueAt?: string): Promise<void>;

  /**
   * Moves the connection `connectionId` to another status (bumping its
   * version), if it is still that connection and, when given, in one of
   * `from`. Leaving `connected` takes it out of the nightly index. Returns the
   * updated connection, or undefined when the condition did not hold.
   */
  transition(ref: ConnectionRef, change: StatusTransition): Promise<Connection | undefined>;
  /** Sets fields of the connection's sync status, if it is still connection `connectionId`. False otherwise. */
  updateSync(ref: ConnectionRef, connectionId: string, patch: Partial<SyncStatus>): Promise<boolean>;
  /**
   * Asks for the connection's records to be erased, if it is still `connectionId`, not
   * connected, and no erase is under way (one asked for and not done): false otherwise.
   */
  requestErasure(ref: ConnectionRef, connectionId: string, erasure: Erasure): Promise<boolean>;
  /**
   * Updates the erase asked for at `requestedAt`, while the connection is still that one and
   * not connected. With `guard.owner`, only while that worker holds it; with `guard.claimAt`
   * (a time, ms) the worker takes it, unless another's hold runs past that time.
   */
  updateErasure(
    ref: ConnectionRef,
    connectionId: string,
    requestedAt: string,
    patch: Partial<Erasure>,
    guard?: { owner: string; claimAt?: number },
  ): Promise<boolean>;
  /** Asks for a full re-sync (replacing any under way), if it is still `connectionId` and connected. */
  requestFullSync(ref: ConnectionRef, connectionId: string, fullSync: FullSync): Promise<boolean>;
  /** Updates the full re-sync `id`, while the connection is still `connectionId`. */
  updateFullSync(
    ref: ConnectionRef,
    connectionId: string,
    id: string,
    patch: Partial<FullSync>,
  ): Promise<boolean>;
  /** Records the account's display name, if it is still connection `connectionId`. */
  noteAccountName(ref: ConnectionRef, connectionId: string, name: string | null): Promise<boolean>;
  /** Notes an app event Stripe sent about this connection (`account.application.authorized`). */
  noteAppEvent(
    ref: ConnectionRef,
    connectionId: string,
    event: { type: string; id: string; at: string },
  ): Promise<boolean>;
  /** Forgets the secret's name once the secret is deleted (only if it is still that name). */
  clearSecretName(ref: ConnectionRef, secretName: string): Promise<void>;

  /**
   * Takes the token-refresh lease on a connected connection until `until` (ms),
   * unless someone else holds an unexpired one. True if taken.
   */
  acquireRefreshLease(
    ref: ConnectionRef,
    connectionId: string,
    owner: string,
    now: number,
    until: number,
  ): Promise<boolean>;
  releaseRefreshLease(ref: ConnectionRef, owner: string): Promise<void>;

  /**
   * Takes the connection's sync lease until `until` (ms) and marks the sync
   * running, if it is still connection `connectionId`, connected, and nobody
   * holds an unexpired lease. Returns the connection, or why not.
   */
  acquireSyncLease(
    ref: ConnectionRef,
    connectionId: string,
    owner: string,
    now: number,
    until: number,
  ): Promise<
    /** `abandoned`: the lease taken had been left by a run that never released it. */
    { ok: true; connection: Connection; abandoned: boolean } | { ok: false; reason: 'held' | 'gone' }
  >;
  /**
   * Asks the run holding the lease to sync again when it ends (a webhook left its change to it).
   * False when no run holds it now: the caller writes the change itself.
   */
  requestSyncAgain(ref: ConnectionRef, connectionId: string, now: number): Promise<boolean>;
  /** The next run counts the stored records again. */
  noteCountsInDoubt(ref: ConnectionRef, connectionId: string): Promise<void>;
  /** Forgets the doubt `token` named, unless a newer one replaced it. */
  clearCountsInDoubt(ref: ConnectionRef, token: string): Promise<void>;
  /**
   * The guard before a run's writes, as a condition (not a read): true while the connection is
   * still `connectionId`, connected, and `owner` holds its sync lease until at least `until`
   * (ms). A connection that ended, a lease another worker took over, or one about to lapse
   * (its renewals failing) makes it false.
   */
  holdsSyncLease(ref: ConnectionRef, connectionId: string, owner: string, until: number): Promise<boolean>;
  /** Extends the sync lease `owner` holds; false when it is no longer theirs (another worker took it over). */
  renewSyncLease(ref: ConnectionRef, owner: string, until: number): Promise<boolean>;
  /**
   * Gives up the sync lease and sets the sync status. A sync left `queued`
   * (re-queued near the deadline) stays due for the sweep at `dueAt`; any
   * other state takes it off the due-work index. Says whether a webhook asked
   * for another sync meanwhile (and forgets that it did).
   */
  releaseSyncLease(
    ref: ConnectionRef,
    owner: string,
    sync: Partial<SyncStatus>,
    dueAt?: string,
    options?: { countsInDoubt?: boolean },
  ): Promise<{ released: boolean; syncAgain: boolean }>;

  /**
   * Marks a sync queued unless one was queued after `notQueuedSince` (ISO) or
   * one is running, and due for the sweep at `dueAt` (ISO): if its message is
   * lost, the sweep queues it again then. False when not connected, running,
   * or queued too recently.
   */
  markSyncQueued(
    ref: ConnectionRef,
    connectionId: string,
    at: string,
    notQueuedSince: string,
    dueAt: string,
  ): Promise<boolean>;
  /** Moves the queued sync's due time (its message was sent: the sweep need not look soon). */
  setSyncDue(ref: ConnectionRef, connectionId: string, dueAt: string): Promise<void>;
  /** Connections whose sync work is overdue (a queued sync that never ran, a run whose lease ran out). */
  dueSyncs(now: string): AsyncIterable<ConnectionRef>;
  /**
   * Takes over a stalled sync, if it still is one: connected, its lease run
   * out (or none), and due. Marks it queued (due again at `dueAt`) and returns
   * the connection, for the sweep to send its job; undefined otherwise (and a
   * connection no longer connected leaves the index).
   */
  requeueStalled(ref: ConnectionRef, now: string, dueAt: string): Promise<Connection | undefined>;

  /**
   * Counts a sync asked for by hand: at most one per `intervalMs` per
   * connection, whatever its runs are doing. When refused, how long until the
   * next one is allowed.
   */
  takeManualSync(
    ref: ConnectionRef,
    connectionId: string,
    nowMs: number,
    intervalMs: number,
  ): Promise<{ ok: true } | { ok: false; retryAfterMs: number }>;
  /** Gives back the allowance taken at `takenAtMs` (the sync could not be queued after all). */
  returnManualSync(ref: ConnectionRef, connectionId: string, takenAtMs: number): Promise<void>;

  /** One page of connected connections from the sparse status index. */
  connectedPage(
    limit: number,
    startKey?: Record<string, unknown>,
  ): Promise<{ connections: Connection[]; next?: Record<string, unknown> }>;
}

/**
 * What the service keeps in its table, one port per aggregate (each adapter in its own
 * file): connections, OAuth states, account links, allowances, orphan notes. Functions take
 * the whole; each flow uses the parts it names.
 */
export interface ConnectionStore
  extends Connections,
    OAuthStateStore,
    AccountLinkStore,
    AllowanceStore,
    OrphanedSecretStore {}
