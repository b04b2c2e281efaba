/** One message on the sync queue: sync this connection. */
export interface SyncJob {
  orgId: string;
  connectionId: string;
  reason: 'initial' | 'manual' | 'nightly' | 'continue' | 'webhook';
}
