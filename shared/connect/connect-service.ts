import {
  type Connection,
  idleSync,
  type Mode,
  STATE_TTL_MS,
  type SyncViewState,
} from '../domain/connection.js';
import { badRequest, forbidden, HttpError } from '../errors.js';
import type { Caller } from '../http/auth.js';
import { logger } from '../logger.js';
import { type Clock, systemClock } from '../ports/clock.js';
import type { ConnectionStore } from '../ports/connection-store.js';
import { type RecordScope, type RecordsStore, scopeOf } from '../ports/records-store.js';
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
  store: ConnectionStore;
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
  url.searchParams.set('client_id', config.STRIPE_CLIENT_ID);
  url.searchParams.set('redirect_uri', config.OAUTH_REDIRECT_URI);
  url.searchParams.set('state', state.value);
  logger.info('connect started', { orgId: caller.orgId, mode });
  return { authorizeUrl: url.toString(), expiresAt };
}

export async function connectionStatus(
  deps: { store: ConnectionStore; clock?: Clock; records?: Pick<RecordsStore, 'counts' | 'countsState'> },
  orgId: string,
): Promise<StatusView> {
  const now = (deps.clock ?? systemClock).now().getTime();
  const connection = await deps.store.getConnection(orgId);
  if (!connection) {
    return {
      status: 'not_connected',
      account: null,
      connectedAt: null,
      sync: syncView(idleSync(), null, now),
    };
  }
  return {
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
      counts:
        (await countedCounts(deps.records, scopeOf({ ...connection, orgId }))) ?? connection.sync.counts,
    },
  };
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

/** Disconnect: see endConnection for the order of the steps. 204 also when already disconnected. */
export async function disconnect(
  deps: { store: ConnectionStore; vault: TokenVault; clock: Clock },
  orgId: string,
) {
  await endConnection(deps, orgId, 'disconnected', 'user');
}
