import type { AccountLinkStore } from './account-links.js';
import type { AllowanceStore } from './allowances.js';
import type { ConnectionRequests } from './connection-requests.js';
import type { Connections } from './connections.js';
import type { OAuthStateStore } from './oauth-states.js';
import type { OrphanedSecretStore } from './orphaned-secrets.js';
import type { SyncHistory } from './sync-history.js';
import type { SyncLeases } from './sync-leases.js';
import type { SyncMarks } from './sync-marks.js';

export { type StatusTransition, VersionConflictError } from './connections.js';

/**
 * What the service keeps in its table, one port per aggregate (each adapter in its own
 * file): connections, their leases, their sync marks, the requests made of them, their run
 * history, OAuth states, account links, allowances, orphan notes. Flows take the whole; each uses the
 * parts it names.
 */
export interface ConnectionStore
  extends Connections,
    SyncLeases,
    SyncMarks,
    ConnectionRequests,
    OAuthStateStore,
    AccountLinkStore,
    AllowanceStore,
    OrphanedSecretStore,
    SyncHistory {}
