import { deleteOrphanedSecrets } from '../connect/end-connection.js';
import type { SyncJob } from '../domain/sync-job.js';
import { describeError } from '../http/handler.js';
import { logger } from '../logger.js';
import type { Clock } from '../ports/clock.js';
import type { ConnectionStore } from '../ports/connection-store.js';
import type { JobQueue } from '../ports/job-queue.js';
import type { PendingInstallStore } from '../ports/pending-installs.js';
import type { TokenVault } from '../ports/token-vault.js';
import { dueIn, QUEUED_SYNC_DUE_MS, SENDING_SYNC_DUE_MS } from './dispatch.js';

export interface SweepDeps {
  store: ConnectionStore;
  installs: PendingInstallStore;
  vault: TokenVault;
  syncQueue: JobQueue<SyncJob>;
  clock: Clock;
}

export interface SweepResult {
  /** Syncs queued again: their message was lost, or their worker died (its lease ran out). */
  resumed: number;
  /** Installs nobody confirmed in time: their tokens deleted. */
  installsExpired: number;
  /** Secrets left behind by a step that failed or crashed, deleted. */
  secretsDeleted: number;
}

/**
 * Finishes or undoes what a crash left half-done, from the due-work index
 * (every few minutes, from the schedule): a sync that is queued but never
 * ran, or running with its lease run out, is queued again (`resume`); an
 * install nobody confirmed has its secret and link removed; a secret noted
 * for deletion is deleted unless its org's connection uses it. Each item is
 * handled alone: one that fails is logged and found again next time.
 */
export async function sweep(deps: SweepDeps): Promise<SweepResult> {
  const now = deps.clock.now();
  const nowIso = now.toISOString();
  const result: SweepResult = { resumed: 0, installsExpired: 0, secretsDeleted: 0 };
  const each = async (what: string, work: () => Promise<void>) => {
    try {
      await work();
    } catch (error) {
      logger.warn(`sweep: could not handle ${what}; the next sweep tries again`, {
        error: describeError(error),
      });
    }
  };

  for await (const ref of deps.store.dueSyncs(nowIso)) {
    await each('a stalled sync', async () => {
      const connection = await deps.store.requeueStalled(ref, nowIso, dueIn(now, SENDING_SYNC_DUE_MS));
      if (!connection) return;
      await deps.syncQueue.send({ ...ref, connectionId: connection.connectionId, reason: 'resume' });
      await deps.store.setSyncDue(ref, connection.connectionId, dueIn(now, QUEUED_SYNC_DUE_MS));
      logger.info('sweep: a stalled sync was queued again', { orgId: ref.orgId, slot: ref.slot });
      result.resumed++;
    });
  }

  for await (const install of deps.installs.expired(nowIso)) {
    await each('an expired install', async () => {
      const connections = await deps.store.listConnections(install.orgId);
      // A confirmation that got as far as the connection: only its record is left to remove.
      if (!connections.some((c) => c.connectionId === install.connectionId)) {
        await deps.vault.delete(install.secretName);
        await deps.store.deleteAccountLink(install.accountId, install.orgId, install.connectionId);
        result.installsExpired++;
      }
      await deps.installs.delete(install.installHash);
    });
  }

  const orgs = new Set<string>();
  for await (const { orgId } of deps.store.dueOrphans(nowIso)) orgs.add(orgId);
  for (const orgId of orgs) {
    await each('orphaned secrets', async () => {
      result.secretsDeleted += await deleteOrphanedSecrets(deps, orgId);
    });
  }
  if (result.resumed + result.installsExpired + result.secretsDeleted > 0)
    logger.info('sweep done', { ...result });
  return result;
}
