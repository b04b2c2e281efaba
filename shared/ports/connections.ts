import type { Connection, ConnectionRef, ConnectionStatus, SyncStatus } from '../domain/connection.js';

/** Another writer changed the connection first; re-read and decide again. */
export class VersionConflictError extends Error {
  override name = 'VersionConflictError';
}

/** A status change for `Connections.transition`. */
export interface StatusTransition {
  connectionId: string;
  to: ConnectionStatus;
  reason: string;
  /** The statuses it may leave; any when absent. */
  from?: ConnectionStatus[];
  at: string;
}

/**
 * An org's connections: each one's item, its status and its sync status. Only single-item
 * conditional writes: every multi-item flow is ordered so a crash between two writes leaves
 * nothing that points at something missing.
 */
export interface Connections {
  getConnection(ref: ConnectionRef): Promise<Connection | undefined>;
  /** Every connection of the org (whatever its status), the one older code kept per org included. */
  listConnections(orgId: string): Promise<Connection[]>;
  /**
   * Writes the whole connection if the stored version is `expectedVersion`
   * (`null`: none stored). VersionConflictError otherwise. `syncDueAt`: its
   * sync is queued, and due for the sweep then if its message never comes.
   */
  putConnection(connection: Connection, expectedVersion: number | null, syncDueAt?: string): Promise<void>;

  /**
   * Moves the connection `connectionId` to another status (bumping its
   * version), if it is still that connection and, when given, in one of
   * `from`. Leaving `connected` takes it out of the nightly index. Returns the
   * updated connection, or undefined when the condition did not hold.
   */
  transition(ref: ConnectionRef, change: StatusTransition): Promise<Connection | undefined>;
  /** Sets fields of the connection's sync status, if it is still connection `connectionId`. False otherwise. */
  updateSync(ref: ConnectionRef, connectionId: string, patch: Partial<SyncStatus>): Promise<boolean>;
  /** Records the account's display name, if it is still connection `connectionId`. */
  noteAccountName(ref: ConnectionRef, connectionId: string, name: string | null): Promise<boolean>;
  /** Notes an app event Stripe sent about this connection (`account.application.authorized`). */
  noteAppEvent(
    ref: ConnectionRef,
    connectionId: string,
    event: { type: string; id: string; at: string },
  ): Promise<boolean>;
  /**
   * Notes an uninstall that may be this connection's (`uninstallInDoubt`), if it is still connection
   * `connectionId` and connected. False otherwise.
   */
  noteUninstallInDoubt(ref: ConnectionRef, connectionId: string, at: string): Promise<boolean>;
  /** Clears that note, if it is still the one noted at `at` (a run proved the token alive). */
  clearUninstallInDoubt(ref: ConnectionRef, connectionId: string, at: string): Promise<void>;
  /** Forgets the secret's name once the secret is deleted (only if it is still that name). */
  clearSecretName(ref: ConnectionRef, secretName: string): Promise<void>;

  /** One page of connected connections from the sparse status index. */
  connectedPage(
    limit: number,
    startKey?: Record<string, unknown>,
  ): Promise<{ connections: Connection[]; next?: Record<string, unknown> }>;
}
