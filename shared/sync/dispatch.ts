import type { SyncJob } from '../domain/sync-job.js';
import { HttpError } from '../errors.js';
import { describeError } from '../http/handler.js';
import { logger } from '../logger.js';
import type { Clock } from '../ports/clock.js';
import type { ConnectionStore } from '../ports/connection-store.js';
import type { JobQueue } from '../ports/job-queue.js';

export interface DispatchDeps {
  store: ConnectionStore;
  syncQueue: JobQueue<SyncJob>;
  clock: Clock;
  /** A sync queued longer ago than this without running is queued again (its message was lost). */
  staleQueuedMs?: number;
}

/**
 * The nightly fan-out: pages through connected connections (the sparse
 * index), marks each queued unless one is already queued or running, and
 * sends one message per connection with SendMessageBatch.
 */
export async function dispatchSyncs(
  deps: DispatchDeps,
): Promise<{ connections: number; queued: number; skipped: number; batchCalls: number }> {
  const now = deps.clock.now();
  const staleBefore = new Date(now.getTime() - (deps.staleQueuedMs ?? 60 * 60_000)).toISOString();
  let start: Record<string, unknown> | undefined;
  let connections = 0;
  let skipped = 0;
  let batchCalls = 0;
  let queued = 0;
  do {
    const page = await deps.store.connectedPage(100, start);
    start = page.next;
    connections += page.connections.length;
    const marks = await Promise.all(
      page.connections.map(
        async (c): Promise<SyncJob | undefined> =>
          (await deps.store.markSyncQueued(c.orgId, c.connectionId, now.toISOString(), staleBefore))
            ? { orgId: c.orgId, connectionId: c.connectionId, reason: 'nightly' }
            : undefined,
      ),
    );
    const jobs = marks.filter((job): job is SyncJob => job !== undefined);
    skipped += page.connections.length - jobs.length;
    if (jobs.length > 0) {
      batchCalls += (await deps.syncQueue.sendBatch(jobs)).calls;
      queued += jobs.length;
    }
  } while (start);
  logger.info('nightly sync dispatched', { connections, queued, skipped, batchCalls });
  return { connections, queued, skipped, batchCalls };
}

export interface RequestSyncDeps {
  store: ConnectionStore;
  syncQueue: JobQueue<SyncJob>;
  clock: Clock;
  /** One manual sync per org per this many milliseconds. */
  minIntervalMs: number;
}

/** POST …/sync: queue a sync now; 409 when not connected, 429 when one was queued moments ago. */
export async function requestSync(
  deps: RequestSyncDeps,
  orgId: string,
): Promise<{ state: 'queued'; queuedAt: string }> {
  const connection = await deps.store.getConnection(orgId);
  if (connection?.status !== 'connected') {
    throw new HttpError(409, 'not_connected', 'Connect Stripe before syncing.');
  }
  const now = deps.clock.now();
  const queuedAt = now.toISOString();
  const since = new Date(now.getTime() - deps.minIntervalMs).toISOString();
  if (!(await deps.store.markSyncQueued(orgId, connection.connectionId, queuedAt, since))) {
    const current = await deps.store.getConnection(orgId);
    if (current?.connectionId !== connection.connectionId || current.status !== 'connected') {
      throw new HttpError(409, 'not_connected', 'Connect Stripe before syncing.');
    }
    const last = current.sync.queuedAt ? Date.parse(current.sync.queuedAt) : now.getTime();
    const retryAfter = Math.max(1, Math.ceil((last + deps.minIntervalMs - now.getTime()) / 1000));
    throw new HttpError(
      429,
      'sync_recently_queued',
      'A sync was queued moments ago or is running; try again later.',
      {
        headers: { 'retry-after': String(retryAfter) },
      },
    );
  }
  try {
    await deps.syncQueue.send({ orgId, connectionId: connection.connectionId, reason: 'manual' });
  } catch (error) {
    // Not queued after all: put the sync state back so the next request is not refused.
    await deps.store
      .updateSync(orgId, connection.connectionId, {
        state: connection.sync.state,
        queuedAt: connection.sync.queuedAt,
      })
      .catch((e: unknown) => logger.error('could not undo a sync mark', { error: describeError(e) }));
    throw error;
  }
  return { state: 'queued', queuedAt };
}
