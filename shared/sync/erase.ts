import { randomUUID } from 'node:crypto';
import { refOf } from '../domain/connection.js';
import type { SyncJob } from '../domain/sync-job.js';
import { logger } from '../logger.js';
import { scopeOf } from '../ports/records-store.js';
import { RESOURCES } from '../records/registry.js';
import type { SyncDeps, SyncOutcome } from './run-context.js';

/** Time kept back from the deadline: a page of deletes and the re-queue fit in it. */
const ERASE_MARGIN_MS = 20_000;
/** How long a running erase holds the connection past its last page. */
export const ERASE_LEASE_MS = 2 * 60_000;

/**
 * Erases a disconnected connection's records, as an admin asked (`DELETE …?records=erase`).
 *
 * Nothing else writes the partition meanwhile: a reconnect is refused until the erase is done
 * (see `storeConnection`), and the erase starts only once the connection's last sync lease has
 * lapsed and `eraseGraceMs` has passed since the request (a webhook that read the connection
 * before the disconnect has written by then). Records older code kept in the org's
 * both-modes partition are first moved to their own mode's (the shared migration), so none
 * comes back later. Then every item of the partition is deleted, page by page; before each
 * page the erase saves where it stands and extends its hold, on condition that the
 * connection is still the one it erases. Out of time, it queues itself again; a crash is
 * retried by SQS from where it stood. Done, it forgets the connection's sync checkpoints.
 */
export async function runErase(
  deps: SyncDeps,
  job: SyncJob,
  remainingMs: () => number,
): Promise<SyncOutcome> {
  const { store, clock, config } = deps;
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
  const now = clock.now().getTime();
  if (erasure.state === 'running' && (erasure.leaseUntil ?? 0) > now) {
    logger.info('erase skipped: another worker is erasing');
    return { outcome: 'skipped', reason: 'held' };
  }
  // Writers that began before the disconnect finish first.
  const startAt = Math.max(
    (connection.syncLeaseUntil ?? 0) + 1,
    Date.parse(erasure.requestedAt) + config.eraseGraceMs,
  );
  if (startAt > now) {
    // Looked at again at least every 30 s: a run that stops early releases its lease early.
    const delaySeconds = Math.min(30, Math.ceil((startAt - now) / 1000));
    await deps.syncQueue.send(job, { delaySeconds });
    logger.info('erase waits for the writers that began before the disconnect', { delaySeconds });
    return { outcome: 'deferred' };
  }
  const scope = scopeOf(connection);
  const { requestedAt } = erasure;
  // Before the first item goes: a reader's cursor from before now is refused from here on (it
  // holds what the erase removes, with no `deleted` change), and a read from the start skips it.
  if (!erasure.cutoff) await deps.records.markErased(scope);
  const hold = () => clock.now().getTime() + ERASE_LEASE_MS;
  // Everything written until the erase began is the disconnected connection's.
  const cutoff = erasure.cutoff ?? clock.now().toISOString();
  // Taken, unless another worker's hold still runs (it read before us, or a duplicate job):
  // one worker at a time erases and reports the items.
  const owner = randomUUID();
  const update = (patch: Parameters<typeof store.updateErasure>[3]) =>
    store.updateErasure(ref, job.connectionId, requestedAt, patch, { owner });
  if (
    !(await store.updateErasure(
      ref,
      job.connectionId,
      requestedAt,
      { state: 'running', cutoff, leaseUntil: hold() },
      { owner, claimAt: now },
    ))
  ) {
    logger.info('erase skipped: another worker holds it, or the connection changed');
    return { outcome: 'skipped', reason: 'held' };
  }
  const migrated = await deps.records.migrateLegacyPartition(
    scope.orgId,
    scope.accountId,
    scope.mode,
    () => remainingMs() < ERASE_MARGIN_MS,
  );
  let changed = false;
  const page = migrated.done
    ? await deps.records.eraseBefore(scope, cutoff, {
        after: erasure.after ?? undefined,
        beforePage: async (progress) => {
          if (remainingMs() < ERASE_MARGIN_MS) return false;
          const held = await update({
            items: erasure.items + progress.erased,
            after: progress.after ?? null,
            leaseUntil: hold(),
          });
          if (!held) changed = true;
          return held;
        },
      })
    : { erased: 0, done: false, after: erasure.after ?? undefined };
  const items = erasure.items + page.erased;
  if (changed) {
    logger.info('erase stopped: the connection changed, or another worker took it over');
    return { outcome: 'stopped', reason: 'changed' };
  }
  if (!page.done) {
    if (!(await update({ items, after: page.after ?? null, leaseUntil: null })))
      return { outcome: 'stopped', reason: 'changed' };
    await deps.syncQueue.send({ ...ref, connectionId: job.connectionId, reason: 'erase' });
    logger.info('erase continues in the next run', { items });
    return { outcome: 'continued', requests: 0 };
  }
  for (const def of RESOURCES) await deps.checkpoints.reset(ref, def.name);
  if (
    !(await update({
      state: 'done',
      items,
      finishedAt: clock.now().toISOString(),
      after: null,
      leaseUntil: null,
    }))
  )
    return { outcome: 'stopped', reason: 'changed' };
  logger.info('erased the connection’s records', { items });
  return { outcome: 'completed', counts: {}, written: {}, requests: 0 };
}
