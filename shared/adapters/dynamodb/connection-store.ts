import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { AccountLinkStore } from '../../ports/account-links.js';
import type { AllowanceStore } from '../../ports/allowances.js';
import type { ConnectionRequests } from '../../ports/connection-requests.js';
import type { ConnectionStore } from '../../ports/connection-store.js';
import type { Connections } from '../../ports/connections.js';
import type { OAuthStateStore } from '../../ports/oauth-states.js';
import type { OrphanedSecretStore } from '../../ports/orphaned-secrets.js';
import type { SyncHistory } from '../../ports/sync-history.js';
import type { SyncLeases } from '../../ports/sync-leases.js';
import type { SyncMarks } from '../../ports/sync-marks.js';
import { DynamoAccountLinkStore } from './account-link-store.js';
import { DynamoAllowanceStore } from './allowance-store.js';
import { DynamoConnectionRequests } from './connection-requests.js';
import { DynamoConnections } from './connections.js';
import { DynamoOAuthStateStore } from './oauth-state-store.js';
import { DynamoOrphanedSecretStore } from './orphaned-secret-store.js';
import { DynamoSyncHistory } from './sync-history.js';
import { DynamoSyncLeases } from './sync-leases.js';
import { DynamoSyncMarks } from './sync-marks.js';

/**
 * The ConnectionStore port on DynamoDB, in the one service table: each aggregate from its own
 * adapter (connections, sync leases, sync marks, requests, OAuth states, account links,
 * allowances, orphan notes), this class only handing each call to its owner.
 */
export class DynamoConnectionStore implements ConnectionStore {
  private readonly connections: DynamoConnections;
  private readonly leases: DynamoSyncLeases;
  private readonly marks: DynamoSyncMarks;
  private readonly requests: DynamoConnectionRequests;
  private readonly states: DynamoOAuthStateStore;
  private readonly links: DynamoAccountLinkStore;
  private readonly allowances: DynamoAllowanceStore;
  private readonly orphans: DynamoOrphanedSecretStore;
  private readonly history: DynamoSyncHistory;

  constructor(db: DynamoDBDocumentClient, tableName: string) {
    this.connections = new DynamoConnections(db, tableName);
    this.leases = new DynamoSyncLeases(db, tableName);
    this.marks = new DynamoSyncMarks(db, tableName);
    this.requests = new DynamoConnectionRequests(db, tableName);
    this.states = new DynamoOAuthStateStore(db, tableName);
    this.links = new DynamoAccountLinkStore(db, tableName);
    this.allowances = new DynamoAllowanceStore(db, tableName);
    this.orphans = new DynamoOrphanedSecretStore(db, tableName);
    this.history = new DynamoSyncHistory(db, tableName);
  }

  recordRun: SyncHistory['recordRun'] = (...args) => this.history.recordRun(...args);
  recentRuns: SyncHistory['recentRuns'] = (...args) => this.history.recentRuns(...args);
  getConnection: Connections['getConnection'] = (...args) => this.connections.getConnection(...args);
  listConnections: Connections['listConnections'] = (...args) => this.connections.listConnections(...args);
  putConnection: Connections['putConnection'] = (...args) => this.connections.putConnection(...args);
  transition: Connections['transition'] = (...args) => this.connections.transition(...args);
  updateSync: Connections['updateSync'] = (...args) => this.connections.updateSync(...args);
  noteAccountName: Connections['noteAccountName'] = (...args) => this.connections.noteAccountName(...args);
  noteAppEvent: Connections['noteAppEvent'] = (...args) => this.connections.noteAppEvent(...args);
  noteUninstallInDoubt: Connections['noteUninstallInDoubt'] = (...args) =>
    this.connections.noteUninstallInDoubt(...args);
  clearUninstallInDoubt: Connections['clearUninstallInDoubt'] = (...args) =>
    this.connections.clearUninstallInDoubt(...args);
  clearSecretName: Connections['clearSecretName'] = (...args) => this.connections.clearSecretName(...args);
  connectedPage: Connections['connectedPage'] = (...args) => this.connections.connectedPage(...args);
  acquireRefreshLease: SyncLeases['acquireRefreshLease'] = (...args) =>
    this.leases.acquireRefreshLease(...args);
  releaseRefreshLease: SyncLeases['releaseRefreshLease'] = (...args) =>
    this.leases.releaseRefreshLease(...args);
  acquireSyncLease: SyncLeases['acquireSyncLease'] = (...args) => this.leases.acquireSyncLease(...args);
  requestSyncAgain: SyncLeases['requestSyncAgain'] = (...args) => this.leases.requestSyncAgain(...args);
  noteCountsInDoubt: SyncLeases['noteCountsInDoubt'] = (...args) => this.leases.noteCountsInDoubt(...args);
  clearCountsInDoubt: SyncLeases['clearCountsInDoubt'] = (...args) => this.leases.clearCountsInDoubt(...args);
  holdsSyncLease: SyncLeases['holdsSyncLease'] = (...args) => this.leases.holdsSyncLease(...args);
  renewSyncLease: SyncLeases['renewSyncLease'] = (...args) => this.leases.renewSyncLease(...args);
  releaseSyncLease: SyncLeases['releaseSyncLease'] = (...args) => this.leases.releaseSyncLease(...args);
  markSyncQueued: SyncMarks['markSyncQueued'] = (...args) => this.marks.markSyncQueued(...args);
  setSyncDue: SyncMarks['setSyncDue'] = (...args) => this.marks.setSyncDue(...args);
  dueSyncs: SyncMarks['dueSyncs'] = (...args) => this.marks.dueSyncs(...args);
  requeueStalled: SyncMarks['requeueStalled'] = (...args) => this.marks.requeueStalled(...args);
  takeManualSync: SyncMarks['takeManualSync'] = (...args) => this.marks.takeManualSync(...args);
  returnManualSync: SyncMarks['returnManualSync'] = (...args) => this.marks.returnManualSync(...args);
  requestErasure: ConnectionRequests['requestErasure'] = (...args) => this.requests.requestErasure(...args);
  updateErasure: ConnectionRequests['updateErasure'] = (...args) => this.requests.updateErasure(...args);
  requestFullSync: ConnectionRequests['requestFullSync'] = (...args) =>
    this.requests.requestFullSync(...args);
  updateFullSync: ConnectionRequests['updateFullSync'] = (...args) => this.requests.updateFullSync(...args);

  putState: OAuthStateStore['putState'] = (...args) => this.states.putState(...args);
  consumeState: OAuthStateStore['consumeState'] = (...args) => this.states.consumeState(...args);
  putAccountLink: AccountLinkStore['putAccountLink'] = (...args) => this.links.putAccountLink(...args);
  deleteAccountLink: AccountLinkStore['deleteAccountLink'] = (...args) =>
    this.links.deleteAccountLink(...args);
  accountLinks: AccountLinkStore['accountLinks'] = (...args) => this.links.accountLinks(...args);
  takeAllowance: AllowanceStore['takeAllowance'] = (...args) => this.allowances.takeAllowance(...args);
  noteOrphanedSecret: OrphanedSecretStore['noteOrphanedSecret'] = (...args) =>
    this.orphans.noteOrphanedSecret(...args);
  dueOrphans: OrphanedSecretStore['dueOrphans'] = (...args) => this.orphans.dueOrphans(...args);
  orphanedSecrets: OrphanedSecretStore['orphanedSecrets'] = (...args) =>
    this.orphans.orphanedSecrets(...args);
  forgetOrphanedSecret: OrphanedSecretStore['forgetOrphanedSecret'] = (...args) =>
    this.orphans.forgetOrphanedSecret(...args);
}
