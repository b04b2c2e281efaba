import type { ConnectionRef, SyncError } from '../domain/connection.js';
import type { SyncJob } from '../domain/sync-job.js';

/**
 * One sync run of a connection as support reads it afterwards ("why is my March revenue
 * missing?"): what started it, when, how long it took, how it ended, what it asked of Stripe
 * and wrote, and what went wrong. Counts and our own messages only: no Stripe object, token
 * or key.
 */
export interface SyncRunRecord {
  /** The run's own id (its lease owner): one record per run, written when it ends. */
  runId: string;
  /** Which of the org's connections (its connection id, so a reconnect's runs stay apart). */
  connectionId: string;
  /** What asked for it: the nightly schedule, a user, a webhook, a continuation, the first sync. */
  trigger: SyncJob['reason'];
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  /**
   * `completed`; `partial` (some resources failed, the others are up to date); `continued`
   * (paused near the function's deadline, re-queued); `stopped` (the connection ended or needs
   * re-authorising); `failed` (it will be retried).
   */
  outcome: 'completed' | 'partial' | 'continued' | 'stopped' | 'failed';
  /** Stripe requests the run made. */
  requests: number;
  /** Records it wrote, per resource: new, changed, or read again at a newer version. */
  written: Record<string, number>;
  /** Why it failed or stopped, and each resource that failed. */
  errors: Array<SyncError & { resource?: string }>;
}

/** The last runs of each connection, kept a while (the service table's TTL ends them). */
export interface SyncHistory {
  recordRun(ref: ConnectionRef, run: SyncRunRecord): Promise<void>;
  /** One connection's (by its id: a reconnect in the same slot is another), newest first, at most `limit`. */
  recentRuns(ref: ConnectionRef, connectionId: string, limit: number): Promise<SyncRunRecord[]>;
}
