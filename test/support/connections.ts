import { type Connection, type ConnectionRef, refOf } from '../../shared/domain/connection.js';
import type { ConnectionStore } from '../../shared/ports/connection-store.js';

/**
 * The org's one connection (tests of an org that connected one account): undefined when it has
 * none, and an error when it has several (the test meant one of them: name it).
 */
export async function onlyConnection(
  store: Pick<ConnectionStore, 'listConnections'>,
  orgId: string,
): Promise<Connection | undefined> {
  const connections = await store.listConnections(orgId);
  if (connections.length > 1) throw new Error(`org ${orgId} has ${connections.length} connections`);
  return connections[0];
}

/** The ref of the org's one connection (which must exist). */
export async function onlyRef(
  store: Pick<ConnectionStore, 'listConnections'>,
  orgId: string,
): Promise<ConnectionRef> {
  const connection = await onlyConnection(store, orgId);
  if (!connection) throw new Error(`org ${orgId} has no connection`);
  return refOf(connection);
}
