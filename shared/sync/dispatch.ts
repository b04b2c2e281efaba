import { randomUUID } from 'node:crypto';
import { resolveConnection } from '../connect/connect-service.js';
import { newFullPass, publicConnectionId, refOf } from '../domain/connection.js';
import type { SyncJob } from '../domain/sync-job.js';
import { HttpError } from '../errors.js';
import { describeError } from '../http/handler.js';
import { logger } from '../logger.js';
import type { Clock } from '../ports/clock.js';
import type { ConnectionStore } from '../ports/connection-store.js';
import type { JobQueue } from '../ports/job-queue.js';
import { LISTED_RESOURCES, type ResourceName } from '../records/names.js';

/**
 * How long a queued sync may wait before the sweep queues it again (its
 * message lost): longer than a nightly fan-out's queue takes to drain, so a
 * backlog is not mistaken for a loss.
 */
export const QUEUED_SYNC_DUE_MS = 2 * 60 * 60_000;
/** A sync marked queued just before its message is sent: overdue at once if the send never happened. */
export const SENDING_SYNC_DUE_MS = 2 * 60_000;
export const dueIn = (now: Date, ms: number) => new Date(now.getTime() + ms).toISOString();

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
          (await deps.store.markSyncQueued(
            refOf(c),
            c.connectionId,
            now.toISOString(),
            staleBefore,
            dueIn(now, QUEUED_SYNC_DUE_MS),
          ))
            ? { ...refOf(c), connectionId: c.connectionId, reason: 'nightly' }
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
  store: Pick<
    ConnectionStore,
    | 'listConnections'
    | 'getConnection'
    | 'takeManualSync'
    | 'returnManualSync'
    | 'requestFullSync'
    | 'markSyncQueued'
  >;
  syncQueue: JobQueue<SyncJob>;
  clock: Clock;
  /** One manual sync per connection per this many milliseconds. */
  minIntervalMs: number;
}

/** Marks a sync queued for the status page unless one is running (its state stays `running`). */
const ALWAYS = new Date(8.64e15).toISOString();

/**
 * POST …/sync: queue a sync now. At most one is accepted per connection per
 * `minIntervalMs`, whatever its runs are doing (429 with Retry-After
 * otherwise); 409 when not connected. Asked while a run is going, the job
 * waits for that run to end (see the worker).
 */
export async function requestSync(
  deps: RequestSyncDeps,
  orgId: string,
  connectionId?: string,
  input: { mode?: 'incremental' | 'full' | undefined; resources?: ResourceName[] | undefined } = {},
): Promise<{ state: 'queued'; queuedAt: string; connection: string; mode: 'incremental' | 'full' }> {
  const notConnected = () => new HttpError(409, 'not_connected', 'Connect Stripe before syncing.');
  const connection = await resolveConnection(deps.store, orgId, connectionId);
  if (connection?.status !== 'connected') throw notConnected();
  const ref = refOf(connection);
  const now = deps.clock.now();
  const queuedAt = now.toISOString();
  const taken = await deps.store.takeManualSync(
    ref,
    connection.connectionId,
    now.getTime(),
    deps.minIntervalMs,
  );
  if (!taken.ok) {
    const current = await deps.store.getConnection(ref);
    if (current?.connectionId !== connection.connectionId || current.status !== 'connected') {
      throw notConnected();
    }
    throw new HttpError(
      429,
      'sync_recently_requested',
      'A sync was asked for moments ago; try again later.',
      {
        headers: { 'retry-after': String(Math.ceil(taken.retryAfterMs / 1000)) },
      },
    );
  }
  const mode = input.mode ?? 'incremental';
  if (mode === 'full') {
    const resources = input.resources ?? [...LISTED_RESOURCES];
    // Kept on the connection: whichever run comes next (this one's job, or the nightly one if
    // its message is lost) carries it out.
    const asked = await deps.store.requestFullSync(
      ref,
      connection.connectionId,
      newFullPass(randomUUID(), resources, queuedAt),
    );
    if (!asked) {
      await deps.store.returnManualSync(ref, connection.connectionId, now.getTime()).catch(() => undefined);
      throw notConnected();
    }
  }
  try {
    await deps.syncQueue.send({ ...ref, connectionId: connection.connectionId, reason: 'manual' });
  } catch (error) {
    // Not queued after all: give the allowance back so the next request is not refused.
    await deps.store
      .returnManualSync(ref, connection.connectionId, now.getTime())
      .catch((e: unknown) => logger.error('could not give back a manual sync', { error: describeError(e) }));
    throw error;
  }
  await deps.store.markSyncQueued(
    ref,
    connection.connectionId,
    queuedAt,
    ALWAYS,
    dueIn(now, QUEUED_SYNC_DUE_MS),
  );
  logger.info('sync asked for', { connection: publicConnectionId(connection), mode });
  return { state: 'queued', queuedAt, connection: publicConnectionId(connection), mode };
}
