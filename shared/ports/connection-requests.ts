import type { ConnectionRef, Erasure, FullSync } from '../domain/connection.js';

/** What an admin asked of a connection and its progress: an erase of its records, a full re-sync. */
export interface ConnectionRequests {
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
}
