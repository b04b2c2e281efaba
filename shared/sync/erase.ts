import { refOf } from '../domain/connection.js';
import type { SyncJob } from '../domain/sync-job.js';
import { logger } from '../logger.js';
import { scopeOf } from '../ports/records-store.js';
import { RESOURCES } from '../records/registry.js';
import type { SyncDeps, SyncOutcome } from './run-context.js';

/** Time kept back from the deadline: a page of deletes and the re-queue fit in it. */
const ERASE_MARGIN_MS = 20_000;
/** How long a running erase holds the connection past its last page (a reconnect waits). */
export const ERASE_LEASE_MS = 2 * 60_000;

/**
 * Erases a disconnected connection's records, as an admin asked (`DELETE …?records=erase`):
 * every item of its partition last written before the request, page by page. Before each
 * page it saves where it stands on the connection and extends its hold on it, on condition
 * that the connection is still the disconnected one it erases: a reconnect waits while the
 * erase runs (see `storeConnection`), and one that came first stops it. Out of time, it
 * queues itself again; a crash is retried by SQS from where it stood. Done, it forgets the
 * connection's sync checkpoints, so a reconnect reads everything again.
 */
export async function runErase(
  deps: SyncDeps,
  job: SyncJob,
  remainingMs: () => number,
): Promise<SyncOutcome> {
  const { store, clock } = deps;
  const ref = refOf(job);
  logger.appendKeys({ orgId: job.orgId });
  const connection = await store.getConnection(ref);
  const erasure = connection?.erasure;
  if (
    !connection ||
    !erasure ||
    connection.connectionId !== job.connectionId ||
    connection.status === 'connected' ||
    erasure.state === 'done'
  ) {
    logger.info('erase skipped: nothing to erase, or the connection is in use again');
    return { outcome: 'skipped', reason: 'gone' };
  }
  const scope = scopeOf(connection);
  const { requestedAt } = erasure;
  const hold = () => clock.now().getTime() + ERASE_LEASE_MS;
  if (
    !(await store.updateErasure(ref, job.connectionId, requestedAt, { state: 'running', leaseUntil: hold() }))
  )
    return { outcome: 'skipped', reason: 'gone' };
  let changed = false;
  let outOfTime = false;
  const page = await deps.records.eraseBefore(scope, requestedAt, {
    after: erasure.after ?? undefined,
    beforePage: async (progress) => {
      if (remainingMs() < ERASE_MARGIN_MS) {
        outOfTime = true;
        return false;
      }
      const held = await store.updateErasure(ref, job.connectionId, requestedAt, {
        items: erasure.items + progress.erased,
        after: progress.after ?? null,
        leaseUntil: hold(),
      });
      if (!held) changed = true;
      return held;
    },
  });
  const items = erasure.items + page.erased;
  if (changed) {
    logger.info('erase stopped: the connection changed');
    return { outcome: 'stopped', reason: 'changed' };
  }
  if (!page.done) {
    await store.updateErasure(ref, job.connectionId, requestedAt, {
      items,
      after: page.after ?? null,
      leaseUntil: null,
    });
    await deps.syncQueue.send({ ...ref, connectionId: job.connectionId, reason: 'erase' });
    logger.info('erase continues in the next run', { items, outOfTime });
    return { outcome: 'continued', requests: 0 };
  }
  for (const def of RESOURCES) await deps.checkpoints.reset(ref, def.name);
  await store.updateErasure(ref, job.connectionId, requestedAt, {
    state: 'done',
    items,
    finishedAt: clock.now().toISOString(),
    after: null,
    leaseUntil: null,
  });
  logger.info('erased the connection’s records', { items });
  return { outcome: 'completed', counts: {}, written: {}, requests: 0 };
}
