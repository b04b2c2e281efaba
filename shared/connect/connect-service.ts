import {
  type Connection,
  type Erasure,
  type FullSync,
  idleSync,
  type Mode,
  modeOf,
  parseConnectionId,
  publicConnectionId,
  refOf,
  STATE_TTL_MS,
  type SyncViewState,
} from '../domain/connection.js';
import type { SyncJob } from '../domain/sync-job.js';
import { badRequest, forbidden, HttpError } from '../errors.js';
import type { Caller } from '../http/auth.js';
import { logger } from '../logger.js';
import type { AllowanceStore } from '../ports/allowances.js';
import { type Clock, systemClock } from '../ports/clock.js';
import type { ConnectionStore } from '../ports/connection-store.js';
import type { EventPublisher } from '../ports/event-publisher.js';
import type { JobQueue } from '../ports/job-queue.js';
import type { OAuthStateStore } from '../ports/oauth-states.js';
import { type RecordScope, type RecordsStore, scopeOf } from '../ports/records-store.js';
import type { SyncRunRecord } from '../ports/sync-history.js';
import type { TokenVault } from '../ports/token-vault.js';
import { endConnection } from './end-connection.js';
import { newOAuthState } from './oauth-state.js';
import { type FrontendConfig, resolveReturnTo } from './return-to.js';

export interface ConnectConfig extends FrontendConfig {
  STRIPE_CLIENT_ID: string;
  /** Authorize URL per mode (the external-test link has its own path segment). */
  authorizeUrls: Partial<Record<Mode, string>>;
  STRIPE_DEFAULT_MODE: Mode;
  /** This service's callback URL, exactly as registered in the app manifest. */
  OAUTH_REDIRECT_URI: string;
  /** Secrets are named `<prefix><org>/<connection>`; functions that touch tokens are granted this prefix. */
  TOKEN_SECRET_PREFIX: string;
  /**
   * Connect starts per org per state lifetime (10 minutes). States live as
   * long, so this also caps an org's outstanding states at twice as many.
   */
  CONNECT_LIMIT_PER_10_MINUTES?: number;
}

export interface StartDeps {
  /** Only what a start touches: the org's allowance and the new state (the function bundles no more). */
  store: AllowanceStore & Pick<OAuthStateStore, 'putState'>;
  clock: Clock;
  config: ConnectConfig;
}

export interface StatusView {
  status: 'not_connected' | Connection['status'];
  account: { id: string; name: string | null; livemode: boolean } | null;
  connectedAt: string | null;
  sync: Pick<Connection['sync'], 'lastSuccessAt' | 'lastError' | 'counts' | 'progress'> & {
    state: SyncViewState;
    /** Resources the last run could not sync, and why; empty when every one is up to date. */
    resourceErrors: NonNullable<Connection['sync']['resourceErrors']>;
  };
}

/**
 * The sync as the status shows it. A run whose lease ran out died with its
 * worker: it is `interrupted`, and the sweep resumes it (not `running`).
 */
function syncView(
  sync: Connection['sync'],
  leaseUntil: number | null | undefined,
  now: number,
): StatusView['sync'] {
  const { lastSuccessAt, lastError, counts, progress } = sync;
  const interrupted = sync.state === 'running' && (leaseUntil ?? 0) < now;
  return {
    state: interrupted ? 'interrupted' : sync.state,
    lastSuccessAt,
    lastError,
    counts,
    progress,
    resourceErrors: sync.resourceErrors ?? {},
  };
}

/** Issues a single-use state bound to org, user, mode and return location; returns where to send the browser. */
export async function startConnect(
  deps: StartDeps,
  caller: Caller,
  input: { mode?: Mode | undefined; returnTo?: string | undefined },
) {
  const { config, clock, store } = deps;
  // The install is bound to this user: a token that names none cannot start one.
  if (caller.userId === 'unknown') throw forbidden('Your token does not name a user.');
  const mode = input.mode ?? config.STRIPE_DEFAULT_MODE;
  const base = config.authorizeUrls[mode];
  if (!base) throw badRequest(`Connecting in ${mode} mode is not enabled.`, 'mode_not_enabled');
  const returnTo = resolveReturnTo(input.returnTo, config);
  const limit = config.CONNECT_LIMIT_PER_10_MINUTES ?? 10;
  if (
    !(await store.takeAllowance(caller.orgId, 'connect', limit, STATE_TTL_MS / 1000, clock.now().getTime()))
  ) {
    throw new HttpError(
      429,
      'too_many_connects',
      'Too many connection attempts; try again in a few minutes.',
      {
        headers: { 'retry-after': '600' },
      },
    );
  }
  const state = newOAuthState();
  const expiresAt = new Date(clock.now().getTime() + STATE_TTL_MS).toISOString();
  await store.putState({
    stateHash: state.hash,
    orgId: caller.orgId,
    userId: caller.userId,
    mode,
    returnTo,
    expiresAt,
  });
  const url = new URL(base);
  // A link copied whole from the Dashboard names its app itself, and the test and live links may
  // carry different client ids: the configured client id only fills in a link that names none.
  if (!url.searchParams.get('client_id')) url.searchParams.set('client_id', config.STRIPE_CLIENT_ID);
  url.searchParams.set('redirect_uri', config.OAUTH_REDIRECT_URI);
  url.searchParams.set('state', state.value);
  logger.info('connect started', { orgId: caller.orgId, mode });
  return { authorizeUrl: url.toString(), expiresAt };
}

/** One of the org's connections as the status lists it. */
export interface ConnectionView {
  /** Names it in paths (`…/connections/{id}/sync`): `<mode>_<account id>`. */
  id: string;
  mode: Mode;
  status: Connection['status'];
  account: { id: string; name: string | null; livemode: boolean };
  connectedAt: string;
  sync: StatusView['sync'];
  /** The last full re-sync asked for: its progress, then what it added, changed and marked deleted. */
  fullSync:
    | (Omit<FullSync, 'id' | 'swept' | 'sweepAfter' | 'state'> & {
        /** `cancelled`: the connection stopped (disconnected, revoked) before it was done. */
        state: FullSync['state'] | 'cancelled';
      })
    | null;
  /** The last erase of its records asked for. */
  erasure: Pick<Erasure, 'state' | 'requestedAt' | 'finishedAt' | 'items'> | null;
  /** Its last sync runs, newest first (`RECENT_RUNS`). */
  runs: Array<Omit<SyncRunRecord, 'connectionId'>>;
}

/** How many of a connection's runs the status shows. */
export const RECENT_RUNS = 10;

export interface OrgStatusView extends StatusView {
  /** Every connection of the org, newest first; the fields above summarise the first one still in use. */
  connections: ConnectionView[];
}

/**
 * The connection the top-level summary shows (the page of a single-connection org reads
 * only it): the newest one still in use, else the newest.
 */
function primary(connections: Connection[]): Connection | undefined {
  return connections.find((c) => c.status !== 'disconnected') ?? connections[0];
}

const newestFirst = (a: Connection, b: Connection) =>
  b.connectedAt.localeCompare(a.connectedAt) || publicConnectionId(a).localeCompare(publicConnectionId(b));

async function connectionView(
  deps: {
    store: Pick<ConnectionStore, 'recentRuns'>;
    records?: Pick<RecordsStore, 'counts' | 'countsState'>;
  },
  connection: Connection,
  now: number,
): Promise<ConnectionView> {
  // This connection's runs only: a reconnect to the same account in the same slot starts afresh.
  const runs = (await deps.store.recentRuns(refOf(connection), connection.connectionId, RECENT_RUNS)).map(
    ({ connectionId: _id, ...run }) => run,
  );
  return {
    id: publicConnectionId(connection),
    mode: modeOf(connection),
    status: connection.status,
    account: {
      id: connection.accountId,
      name: connection.accountName ?? null,
      livemode: connection.livemode,
    },
    connectedAt: connection.connectedAt,
    sync: {
      ...syncView(connection.sync, connection.syncLeaseUntil, now),
      // What is stored now, webhooks' records included (the connection keeps the last run's view).
      // Only once a run has counted the partition (this connection's, or the one it replaced:
      // the records stay): before that, a webhook's count is one delta, not the records.
      // Once an erase was asked for, what the connection kept from its last run is gone or going.
      counts:
        connection.erasure?.state === 'done'
          ? {}
          : ((await countedCounts(deps.records, scopeOf(connection))) ??
            (connection.erasure ? {} : connection.sync.counts)),
    },
    fullSync: connection.fullSync ? fullSyncView(connection) : null,
    erasure: connection.erasure ? erasureView(connection.erasure) : null,
    runs,
  };
}

/**
 * What the API shows of a full re-sync. One not done when the connection stopped (a
 * disconnect, a revoke) is `cancelled`: no run carries it on, and a reconnect starts afresh.
 */
function fullSyncView(connection: Connection): NonNullable<ConnectionView['fullSync']> {
  const { id: _id, swept: _swept, sweepAfter: _after, ...rest } = connection.fullSync as FullSync;
  return connection.status !== 'connected' && rest.state !== 'done' ? { ...rest, state: 'cancelled' } : rest;
}

/** The org's connections, each with its sync, and a summary of the one in use. */
export async function connectionStatus(
  deps: { store: ConnectionStore; clock?: Clock; records?: Pick<RecordsStore, 'counts' | 'countsState'> },
  orgId: string,
): Promise<OrgStatusView> {
  const now = (deps.clock ?? systemClock).now().getTime();
  const connections = (await deps.store.listConnections(orgId)).sort(newestFirst);
  const views = await Promise.all(connections.map((c) => connectionView(deps, c, now)));
  const first = primary(connections);
  const view = first ? views[connections.indexOf(first)] : undefined;
  if (!view) {
    return {
      status: 'not_connected',
      account: null,
      connectedAt: null,
      sync: syncView(idleSync(), null, now),
      connections: [],
    };
  }
  return {
    status: view.status,
    account: view.account,
    connectedAt: view.connectedAt,
    sync: view.sync,
    connections: views,
  };
}

/**
 * One of the org's connections by its id (`<mode>_<account>`), as the status lists it: 404 when the
 * org has none by that id, whatever another org has.
 */
export async function oneConnectionStatus(
  deps: { store: ConnectionStore; clock?: Clock; records?: Pick<RecordsStore, 'counts' | 'countsState'> },
  orgId: string,
  connectionId: string,
) {
  const connection = (await resolveConnection(deps.store, orgId, connectionId)) as Connection;
  return connectionView(deps, connection, (deps.clock ?? systemClock).now().getTime());
}

/** The partition's counts, once a run has counted every resource of it (else undefined). */
async function countedCounts(
  records: Pick<RecordsStore, 'counts' | 'countsState'> | undefined,
  scope: RecordScope,
) {
  if (!records) return undefined;
  const state = await records.countsState(scope);
  return state?.countedFor ? records.counts(scope) : undefined;
}

const connectionNotFound = (named = true) =>
  new HttpError(
    404,
    'connection_not_found',
    named ? 'This org has no Stripe connection with that id.' : 'This org has no Stripe connection.',
  );

/**
 * The connection a request names: by its id (404 when the org has none by that id, whatever
 * another org has), or, when none is named, the org's only one in use (its only one at all if
 * none is in use). Undefined when the org has none; 409 when it has several in use.
 */
export async function resolveConnection(
  store: Pick<ConnectionStore, 'listConnections'>,
  orgId: string,
  connectionId: string | undefined,
): Promise<Connection | undefined> {
  const connections = await store.listConnections(orgId);
  if (connectionId !== undefined) {
    const wanted = parseConnectionId(connectionId);
    const found =
      wanted && connections.find((c) => c.accountId === wanted.accountId && modeOf(c) === wanted.mode);
    if (!found) throw connectionNotFound();
    return found;
  }
  const inUse = connections.filter((c) => c.status !== 'disconnected');
  if (inUse.length > 1) {
    throw new HttpError(
      409,
      'connection_ambiguous',
      'This org has several Stripe connections: name one by its id (…/connections/{id}), as the status lists them.',
    );
  }
  return inUse[0] ?? (connections.length === 1 ? connections[0] : undefined);
}

/**
 * Disconnect one connection (see endConnection for the order of the steps). Its records stay,
 * unless `erase`: then an erase of them is queued (the sync worker does it, resumably) and
 * its state returned. Undefined (204) when not erasing: also when already disconnected, or
 * when the org has none.
 */
export async function disconnect(
  deps: {
    store: ConnectionStore;
    vault: TokenVault;
    clock: Clock;
    events: EventPublisher;
    syncQueue?: JobQueue<SyncJob>;
  },
  orgId: string,
  connectionId?: string,
  options: { erase?: boolean } = {},
): Promise<{ connection: string; erasure: NonNullable<ConnectionView['erasure']> } | undefined> {
  const connection = await resolveConnection(deps.store, orgId, connectionId);
  if (!connection) {
    if (options.erase) throw connectionNotFound(connectionId !== undefined);
    return undefined;
  }
  const ref = refOf(connection);
  await endConnection(deps, ref, 'disconnected', 'user', connection.connectionId, options);
  if (!options.erase) return undefined;
  if (!deps.syncQueue) throw new Error('erasing needs the sync queue');
  const now = deps.clock.now();
  const asked: Erasure = { state: 'queued', requestedAt: now.toISOString(), finishedAt: null, items: 0 };
  let erasure: Erasure | null | undefined = connection.erasure;
  let fresh = false;
  if (!erasure || erasure.state === 'done') {
    fresh = await deps.store.requestErasure(ref, connection.connectionId, asked);
    // Not made: another request came first (the same erase, then), or the connection changed.
    const current = fresh ? connection : await deps.store.getConnection(ref);
    erasure = fresh ? asked : current?.erasure;
    if (!erasure || erasure.state === 'done' || current?.connectionId !== connection.connectionId)
      throw new HttpError(409, 'connection_changed', 'The connection changed meanwhile; ask again.');
  }
  // Asked again while one is under way: the same erase. Its job is sent again only when no
  // worker holds it and it was asked for over a minute ago (its first message may have been
  // lost), so repeated requests do not pile up jobs.
  const stale = now.getTime() - Date.parse(erasure.requestedAt) > RESEND_ERASE_AFTER_MS;
  if (fresh || ((erasure.leaseUntil ?? 0) <= now.getTime() && stale)) {
    await deps.syncQueue.send({ ...ref, connectionId: connection.connectionId, reason: 'erase' });
    logger.info('erase of a connection’s records queued', { connection: publicConnectionId(connection) });
  }
  return { connection: publicConnectionId(connection), erasure: erasureView(erasure) };
}

const RESEND_ERASE_AFTER_MS = 60_000;

/** What the API shows of an erase: not the worker's bookkeeping (its hold, cursor, cutoff). */
function erasureView(erasure: Erasure): NonNullable<ConnectionView['erasure']> {
  const { state, requestedAt, finishedAt, items } = erasure;
  return { state, requestedAt, finishedAt, items };
}
