import { randomBytes } from 'node:crypto';
import { type Connection, idleSync, type Mode, STATE_TTL_MS } from '../domain/connection.js';
import type { SyncJob } from '../domain/sync-job.js';
import { badRequest, HttpError } from '../errors.js';
import type { Caller } from '../http/auth.js';
import { describeError } from '../http/handler.js';
import { logger } from '../logger.js';
import type { Clock } from '../ports/clock.js';
import { type ConnectionStore, VersionConflictError } from '../ports/connection-store.js';
import type { JobQueue } from '../ports/job-queue.js';
import {
  OAuthGrantError,
  type StripeTokenClient,
  StripeUnavailableError,
  type TokenGrant,
} from '../ports/stripe-token-client.js';
import type { TokenVault } from '../ports/token-vault.js';
import { endConnection } from './end-connection.js';
import { hashOAuthState, newOAuthState } from './oauth-state.js';
import { defaultReturnTo, type FrontendConfig, resolveReturnTo, withOutcome } from './return-to.js';

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

export interface CallbackDeps {
  store: ConnectionStore;
  vault: TokenVault;
  tokens: StripeTokenClient;
  syncQueue: JobQueue<SyncJob>;
  clock: Clock;
  config: Pick<ConnectConfig, 'FRONTEND_ORIGINS' | 'FRONTEND_INTEGRATION_PATH' | 'TOKEN_SECRET_PREFIX'>;
}

export interface CallbackQuery {
  state?: string | undefined;
  code?: string | undefined;
  error?: string | undefined;
  error_description?: string | undefined;
}

export interface StatusView {
  status: 'not_connected' | Connection['status'];
  account: { id: string; name: string | null; livemode: boolean } | null;
  connectedAt: string | null;
  sync: Pick<Connection['sync'], 'state' | 'lastSuccessAt' | 'lastError' | 'counts' | 'progress'>;
}

export const newConnectionId = () => `conn_${randomBytes(12).toString('hex')}`;

/** Issues a single-use state bound to org, user, mode and return location; returns where to send the browser. */
export async function startConnect(
  deps: StartDeps,
  caller: Caller,
  input: { mode?: Mode | undefined; returnTo?: string | undefined },
) {
  const { config, clock, store } = deps;
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

/**
 * Stripe's redirect back. Always answers with where to send the browser:
 * `stripe=connected`, or `stripe=error&reason=…`. Unexpected failures throw
 * (the handler redirects with a correlation id).
 */
export async function completeCallback(deps: CallbackDeps, query: CallbackQuery): Promise<string> {
  const { store, clock, config } = deps;
  const fallback = defaultReturnTo(config);
  if (!query.state) return withOutcome(fallback, { stripe: 'error', reason: 'invalid_state' });
  const state = await store.consumeState(hashOAuthState(query.state));
  if (!state || Date.parse(state.expiresAt) <= clock.now().getTime()) {
    logger.warn('callback with an unknown, used or expired state');
    return withOutcome(fallback, { stripe: 'error', reason: 'invalid_state' });
  }
  logger.appendKeys({ orgId: state.orgId });
  const fail = (reason: string) => withOutcome(state.returnTo, { stripe: 'error', reason });
  if (query.error) {
    logger.info('the user did not install the app', { stripeError: query.error.slice(0, 64) });
    return fail(query.error === 'access_denied' ? 'access_denied' : 'stripe_error');
  }
  if (!query.code) return fail('invalid_request');

  let grant: TokenGrant;
  try {
    grant = await deps.tokens.exchangeCode(state.mode, query.code);
  } catch (error) {
    if (error instanceof OAuthGrantError) {
      logger.warn('Stripe refused the authorization code', { oauthError: error.code, mode: state.mode });
      return fail('invalid_grant');
    }
    if (error instanceof StripeUnavailableError) {
      logger.warn('Stripe token endpoint unavailable', { error: describeError(error) });
      return fail('stripe_unavailable');
    }
    throw error;
  }
  if (grant.livemode !== (state.mode === 'live')) {
    logger.error('token response mode does not match the state', {
      mode: state.mode,
      livemode: grant.livemode,
    });
    return fail('mode_mismatch');
  }
  const connection = await storeConnection(deps, state.orgId, state.userId, grant);
  await queueSync(deps, connection, 'initial');
  logger.info('connected', { accountId: connection.accountId, connectionId: connection.connectionId });
  return withOutcome(state.returnTo, { stripe: 'connected' });
}

/**
 * Secret first, then the account link, then the connection item that points
 * at both: a failure at any step leaves nothing pointing at something
 * missing, and what this attempt created is removed again.
 */
async function storeConnection(
  deps: CallbackDeps,
  orgId: string,
  userId: string,
  grant: TokenGrant,
): Promise<Connection> {
  const { store, vault, clock, config } = deps;
  const now = clock.now().toISOString();
  for (let attempt = 0; ; attempt++) {
    const previous = await store.getConnection(orgId);
    const connectionId = newConnectionId();
    const secretName = `${config.TOKEN_SECRET_PREFIX}${orgId}/${connectionId}`;
    await vault.create(
      secretName,
      { ...grant, obtainedAt: now },
      { org: orgId, account: grant.accountId, connection: connectionId, livemode: String(grant.livemode) },
    );
    const link = { accountId: grant.accountId, orgId, connectionId, livemode: grant.livemode };
    const connection: Connection = {
      orgId,
      connectionId,
      status: 'connected',
      statusReason: null,
      accountId: grant.accountId,
      livemode: grant.livemode,
      scope: grant.scope,
      secretName,
      connectedAt: now,
      connectedBy: userId,
      updatedAt: now,
      version: (previous?.version ?? 0) + 1,
      sync: idleSync(),
    };
    try {
      await store.putAccountLink(link);
      await store.putConnection(connection, previous?.version ?? null);
    } catch (error) {
      await undo(deps, orgId, secretName, link);
      if (error instanceof VersionConflictError && attempt < 2) continue; // a concurrent change: decide again
      throw error;
    }
    if (previous) await retire(deps, previous, connection);
    return connection;
  }
}

async function undo(
  deps: Pick<CallbackDeps, 'store' | 'vault'>,
  orgId: string,
  secretName: string,
  link: { accountId: string; connectionId: string },
) {
  const { store, vault } = deps;
  await Promise.allSettled([
    vault.delete(secretName).catch((error: unknown) => {
      logger.error('could not remove the secret of a failed connect', {
        secretName,
        error: describeError(error),
      });
      throw error;
    }),
    store.deleteAccountLink(link.accountId, orgId, link.connectionId),
  ]);
}

/** The replaced connection's tokens and account link go; failures are logged (the secret is tagged for cleanup). */
async function retire(
  deps: Pick<CallbackDeps, 'store' | 'vault'>,
  previous: Connection,
  current: Connection,
) {
  const { store, vault } = deps;
  if (previous.secretName) {
    const secretName = previous.secretName;
    await vault.delete(secretName).catch(async (error: unknown) => {
      logger.error('could not delete a replaced connection secret; noted for the next run', {
        secretName,
        error: describeError(error),
      });
      await store.noteOrphanedSecret(previous.orgId, secretName);
    });
  }
  if (previous.accountId !== current.accountId) {
    await store.deleteAccountLink(previous.accountId, previous.orgId, previous.connectionId);
  }
}

/** Queues a sync; a failure is logged, not fatal: the nightly run picks the connection up. */
export async function queueSync(
  deps: { syncQueue: JobQueue<SyncJob>; store: ConnectionStore; clock: Clock },
  connection: Connection,
  reason: SyncJob['reason'],
): Promise<boolean> {
  const { syncQueue, store, clock } = deps;
  try {
    await syncQueue.send({ orgId: connection.orgId, connectionId: connection.connectionId, reason });
    await store.updateSync(connection.orgId, connection.connectionId, {
      state: 'queued',
      queuedAt: clock.now().toISOString(),
    });
    return true;
  } catch (error) {
    logger.error('could not queue a sync', {
      orgId: connection.orgId,
      reason,
      error: describeError(error),
    });
    return false;
  }
}

export async function connectionStatus(deps: { store: ConnectionStore }, orgId: string): Promise<StatusView> {
  const connection = await deps.store.getConnection(orgId);
  if (!connection) {
    const { state, lastSuccessAt, lastError, counts, progress } = idleSync();
    return {
      status: 'not_connected',
      account: null,
      connectedAt: null,
      sync: { state, lastSuccessAt, lastError, counts, progress },
    };
  }
  const { state, lastSuccessAt, lastError, counts, progress } = connection.sync;
  return {
    status: connection.status,
    account: {
      id: connection.accountId,
      name: connection.accountName ?? null,
      livemode: connection.livemode,
    },
    connectedAt: connection.connectedAt,
    sync: { state, lastSuccessAt, lastError, counts, progress },
  };
}

/** Disconnect: see endConnection for the order of the steps. 204 also when already disconnected. */
export async function disconnect(
  deps: { store: ConnectionStore; vault: TokenVault; clock: Clock },
  orgId: string,
) {
  await endConnection(deps, orgId, 'disconnected', 'user');
}
