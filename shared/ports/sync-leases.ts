import type { Connection, ConnectionRef, SyncStatus } from '../domain/connection.js';

/**
 * Who may work on a connection now: the token-refresh lease, the sync lease a run holds (and
 * what it is asked to do when it lets go), and whether its stored counts are in doubt.
 */
export interface SyncLeases {
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
}
