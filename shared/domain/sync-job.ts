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
  reason: 'initial' | 'manual' | 'nightly' | 'continue' | 'webhook' | 'resume' | 'erase' | 'help';
  /**
   * `help`: not a run of its own: work on the parts of a shared-out backfill (`plan`) of
   * `resource` under the lease of the run that asked (`owner`), while it holds it.
   */
  help?: { resource: string; plan: string; owner: string };
}
