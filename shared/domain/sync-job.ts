/** One message on the sync queue: sync this connection. */
export interface SyncJob {
  orgId: string;
  /** Which of the org's connections (messages sent before there were several name none: the legacy one). */
  slot?: string;
  connectionId: string;
  /**
   * `resume`: the sweep found the sync stalled (its message lost, or its worker died).
   * `erase`: not a sync: erase the (disconnected) connection's records, as an admin asked.
   */
  reason: 'initial' | 'manual' | 'nightly' | 'continue' | 'webhook' | 'resume' | 'erase';
}
