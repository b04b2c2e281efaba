import type { Connection, ConnectionRef } from '../domain/connection.js';

/**
 * A connection's sync work as the queue and the sweep see it: queued and when it falls due,
 * the stalled ones to send again, and the allowance of syncs asked for by hand.
 */
export interface SyncMarks {
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
}
