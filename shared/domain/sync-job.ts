/** One message on the sync queue: sync this connection. */
export interface SyncJob {
  orgId: string;
  connectionId: string;
  /** `resume`: the sweep found the sync stalled (its message lost, or its worker died). */
  reason: 'initial' | 'manual' | 'nightly' | 'continue' | 'webhook' | 'resume';
}
