import type {
  AccountLink,
  Connection,
  ConnectionStatus,
  OAuthState,
  SyncStatus,
} from '../domain/connection.js';

/** Another writer changed the connection first; re-read and decide again. */
export class VersionConflictError extends Error {
  override name = 'VersionConflictError';
}

/** A status change for `ConnectionStore.transition`. */
export interface StatusTransition {
  connectionId: string;
  to: ConnectionStatus;
  reason: string;
  /** The statuses it may leave; any when absent. */
  from?: ConnectionStatus[];
  at: string;
}

/**
 * Service state in DynamoDB: OAuth states, connections and the account index.
 * Only single-item conditional writes: every multi-item flow is ordered so a
 * crash between two writes leaves nothing that points at something missing.
 */
export interface ConnectionStore {
  putState(state: OAuthState): Promise<void>;
  /** Deletes the state and returns it, atomically: of two concurrent callers, one gets it. */
  consumeState(stateHash: string): Promise<OAuthState | undefined>;

  getConnection(orgId: string): Promise<Connection | undefined>;
  /**
   * Writes the whole connection if the stored version is `expectedVersion`
   * (`null`: none stored). VersionConflictError otherwise.
   */
  putConnection(connection: Connection, expectedVersion: number | null): Promise<void>;

  /**
   * Moves the connection `connectionId` to another status (bumping its
   * version), if it is still that connection and, when given, in one of
   * `from`. Leaving `connected` takes it out of the nightly index. Returns the
   * updated connection, or undefined when the condition did not hold.
   */
  transition(orgId: string, change: StatusTransition): Promise<Connection | undefined>;
  /** Sets fields of the connection's sync status, if it is still connection `connectionId`. False otherwise. */
  updateSync(orgId: string, connectionId: string, patch: Partial<SyncStatus>): Promise<boolean>;
  /** Records the account's display name, if it is still connection `connectionId`. */
  noteAccountName(orgId: string, connectionId: string, name: string | null): Promise<boolean>;
  /** Notes an app event Stripe sent about this connection (`account.application.authorized`). */
  noteAppEvent(
    orgId: string,
    connectionId: string,
    event: { type: string; id: string; at: string },
  ): Promise<boolean>;
  /** Remembers a secret that could not be deleted, so a later run deletes it (none is left behind). */
  noteOrphanedSecret(orgId: string, secretName: string): Promise<void>;
  orphanedSecrets(orgId: string): Promise<string[]>;
  forgetOrphanedSecret(orgId: string, secretName: string): Promise<void>;
  /** Forgets the secret's name once the secret is deleted (only if it is still that name). */
  clearSecretName(orgId: string, secretName: string): Promise<void>;

  /**
   * Takes the token-refresh lease on a connected connection until `until` (ms),
   * unless someone else holds an unexpired one. True if taken.
   */
  acquireRefreshLease(
    orgId: string,
    connectionId: string,
    owner: string,
    now: number,
    until: number,
  ): Promise<boolean>;
  releaseRefreshLease(orgId: string, owner: string): Promise<void>;

  /**
   * Takes the connection's sync lease until `until` (ms) and marks the sync
   * running, if it is still connection `connectionId`, connected, and nobody
   * holds an unexpired lease. Returns the connection, or why not.
   */
  acquireSyncLease(
    orgId: string,
    connectionId: string,
    owner: string,
    now: number,
    until: number,
  ): Promise<{ ok: true; connection: Connection } | { ok: false; reason: 'held' | 'gone' }>;
  releaseSyncLease(orgId: string, owner: string, sync: Partial<SyncStatus>): Promise<void>;

  /**
   * Marks a sync queued unless one was queued after `notQueuedSince` (ISO) or
   * one is running. False when not connected, running, or queued too recently.
   */
  markSyncQueued(orgId: string, connectionId: string, at: string, notQueuedSince: string): Promise<boolean>;

  /** One page of connected connections from the sparse status index. */
  connectedPage(
    limit: number,
    startKey?: Record<string, unknown>,
  ): Promise<{ connections: Connection[]; next?: Record<string, unknown> }>;

  /**
   * Counts one use of a per-org allowance in the current fixed window
   * (`windowSeconds`); false once `limit` uses were counted in it.
   */
  takeAllowance(
    orgId: string,
    name: string,
    limit: number,
    windowSeconds: number,
    nowMs: number,
  ): Promise<boolean>;

  putAccountLink(link: AccountLink): Promise<void>;
  /** Deletes the link if it still belongs to `connectionId`. */
  deleteAccountLink(accountId: string, orgId: string, connectionId: string): Promise<void>;
  accountLinks(accountId: string): Promise<AccountLink[]>;
}
