import { type Connection, type ConnectionRef, publicConnectionId } from '../domain/connection.js';
import { aboutConnection, tell } from '../events/publish.js';
import { logger } from '../logger.js';
import type { Clock } from '../ports/clock.js';
import type { ConnectionStore } from '../ports/connection-store.js';
import type { EventPublisher } from '../ports/event-publisher.js';
import type { TokenVault } from '../ports/token-vault.js';

/**
 * Ends a connection (disconnect, revocation, needs_reauth) and deletes its
 * tokens: the status first (syncs stop at their next check), then the secret,
 * then the account link. Safe to repeat: a second call finishes whatever a
 * failed first one left. `onlyConnectionId` leaves a newer connection alone.
 */
export async function endConnection(
  /** `events`: Defrr is told of a disconnect or a revocation (a `needs_reauth`'s caller tells it). */
  deps: { store: ConnectionStore; vault: TokenVault; clock: Clock; events?: EventPublisher },
  ref: ConnectionRef,
  to: 'disconnected' | 'revoked' | 'needs_reauth',
  reason: string,
  onlyConnectionId?: string,
  options: { erase?: boolean } = {},
): Promise<Connection | undefined> {
  const { store, vault, clock } = deps;
  if (to !== 'needs_reauth' && !deps.events)
    throw new Error(`ending a connection (${to}) tells Defrr: it needs the event bus`);
  const { orgId } = ref;
  for (let attempt = 0; attempt < 5; attempt++) {
    const connection = await store.getConnection(ref);
    if (!connection || (onlyConnectionId && connection.connectionId !== onlyConnectionId)) return undefined;
    let ended = connection;
    // Revocation never resurrects a disconnect; needs_reauth only ever follows connected.
    const from: Connection['status'][] | undefined =
      to === 'revoked' ? ['connected', 'needs_reauth'] : to === 'needs_reauth' ? ['connected'] : undefined;
    if (connection.status !== to && (!from || from.includes(connection.status))) {
      const updated = await store.transition(ref, {
        connectionId: connection.connectionId,
        to,
        reason,
        at: clock.now().toISOString(),
        ...(from ? { from } : {}),
      });
      if (!updated) continue; // changed under us: look again
      ended = updated;
      // Told once, by whoever made the change (a repeat finds it made).
      const about = aboutConnection(orgId, updated);
      const at = clock.now().toISOString();
      if (deps.events && to === 'disconnected')
        await tell(deps.events, 'Stripe Connection Disconnected', {
          ...about,
          erase: options.erase === true,
          at,
        });
      if (deps.events && to === 'revoked')
        await tell(deps.events, 'Stripe Connection Revoked', { ...about, at });
    }
    if (ended.secretName) {
      await vault.delete(ended.secretName);
      await store.clearSecretName(ref, ended.secretName);
    }
    // A connection that needs the user again keeps its link, so that an uninstall Stripe reports
    // late still finds it and ends it as revoked; a reconnect replaces it, and its link with it.
    if (ended.status !== 'needs_reauth')
      await store.deleteAccountLink(ended.accountId, orgId, ended.connectionId);
    await deleteOrphanedSecrets(deps, orgId);
    logger.info('connection ended', {
      orgId,
      connection: publicConnectionId(ended),
      status: ended.status,
      reason,
    });
    return ended;
  }
  throw new Error(`connection ${ref.slot} of ${orgId} kept changing while it was being ended`);
}

/**
 * Deletes secrets a failed step left behind (a replaced connection's, say),
 * then forgets them: the notes due by now, and never a secret one of the org's
 * connections uses (a note made before a replacement that did not happen).
 */
export async function deleteOrphanedSecrets(
  deps: { store: ConnectionStore; vault: TokenVault; clock: Clock },
  orgId: string,
): Promise<number> {
  const now = deps.clock.now().toISOString();
  const due = (await deps.store.orphanedSecrets(orgId)).filter((note) => note.dueAt <= now);
  if (due.length === 0) return 0;
  const inUse = new Set((await deps.store.listConnections(orgId)).map((c) => c.secretName));
  let deleted = 0;
  for (const { secretName } of due) {
    if (!inUse.has(secretName)) {
      await deps.vault.delete(secretName);
      deleted++;
    }
    await deps.store.forgetOrphanedSecret(orgId, secretName);
  }
  if (deleted > 0) logger.info('deleted orphaned connection secrets', { orgId, deleted });
  return deleted;
}
