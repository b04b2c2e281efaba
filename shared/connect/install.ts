import { createHash, randomBytes, randomUUID } from 'node:crypto';
import {
  type Connection,
  type ConnectionRef,
  idleSync,
  newFullPass,
  refOf,
  STATE_TTL_MS,
  slotFor,
} from '../domain/connection.js';
import type { SyncJob } from '../domain/sync-job.js';
import { HttpError } from '../errors.js';
import { aboutConnection, tell } from '../events/publish.js';
import type { Caller } from '../http/auth.js';
import { describeError } from '../http/handler.js';
import { logger } from '../logger.js';
import type { Clock } from '../ports/clock.js';
import { type ConnectionStore, VersionConflictError } from '../ports/connection-store.js';
import type { EventPublisher } from '../ports/event-publisher.js';
import type { JobQueue } from '../ports/job-queue.js';
import type { PendingInstall, PendingInstallStore } from '../ports/pending-installs.js';
import {
  OAuthGrantError,
  type StripeTokenClient,
  StripeUnavailableError,
  type TokenGrant,
} from '../ports/stripe-token-client.js';
import type { TokenVault } from '../ports/token-vault.js';
import { LISTED_RESOURCES } from '../records/names.js';
import { dueIn, QUEUED_SYNC_DUE_MS, SENDING_SYNC_DUE_MS } from '../sync/dispatch.js';
import { connectionStatus, type StatusView } from './connect-service.js';
import { hashOAuthState } from './oauth-state.js';
import { defaultReturnTo, type FrontendConfig, withOutcome } from './return-to.js';

/**
 * The install, from Stripe's redirect to a connection, in two steps so that it
 * is bound to the person who started it (RFC 9700's account-linking CSRF):
 *
 * 1. The callback (public: Stripe sends the browser) consumes the state,
 *    exchanges the code and keeps the tokens under a pending install, then
 *    sends the browser to the Defrr page with `stripe=confirm&install=<token>`.
 * 2. That page, signed in, confirms it (`POST …/connect/confirm`). Only the
 *    user who started the connect, in the same org, can: anyone else who
 *    completes the install link connects nothing and is told why.
 *
 * Every step records its intent before its side effect, so a crash between
 * any two leaves something the sweep finishes or undoes: the pending install
 * is written before its secret exists (unconfirmed, it expires and the sweep
 * deletes the secret), the replaced connection's secret is noted before the
 * new connection is written, and the connection is written with its first sync
 * queued and due (the sweep sends it if the message never went).
 */

/** How long an install waits for its confirmation. */
export const INSTALL_TTL_MS = STATE_TTL_MS;
/** A replaced connection's secret is deleted by the replacement; if that crashed, by the sweep this much later. */
export const RETIRE_GRACE_MS = 15 * 60_000;

export const newConnectionId = () => `conn_${randomBytes(12).toString('hex')}`;
export const hashInstallToken = (token: string) => createHash('sha256').update(token, 'utf8').digest('hex');

export interface CallbackQuery {
  state?: string | undefined;
  code?: string | undefined;
  error?: string | undefined;
  error_description?: string | undefined;
}

export interface CallbackDeps {
  /** Only the OAuth states: the callback's function then loads no other part of the store. */
  store: Pick<ConnectionStore, 'consumeState'>;
  installs: PendingInstallStore;
  vault: TokenVault;
  tokens: StripeTokenClient;
  clock: Clock;
  config: FrontendConfig & { TOKEN_SECRET_PREFIX: string };
}

export interface ConfirmDeps {
  store: ConnectionStore;
  installs: PendingInstallStore;
  vault: TokenVault;
  syncQueue: JobQueue<SyncJob>;
  clock: Clock;
  /** `Stripe Connection Connected`. */
  events: EventPublisher;
}

/**
 * Stripe's redirect back. Always answers with where to send the browser:
 * `stripe=confirm&install=…`, or `stripe=error&reason=…` (`access_denied`
 * when the user cancelled, with or without a state). Unexpected failures
 * throw (the handler redirects with a correlation id).
 */
export async function completeCallback(deps: CallbackDeps, query: CallbackQuery): Promise<string> {
  const { store, clock, config } = deps;
  const fallback = defaultReturnTo(config);
  // Stripe may send a cancel without the state: the user cancelled, nothing else is known.
  if (!query.state) {
    const reason = query.error === 'access_denied' ? 'access_denied' : 'invalid_state';
    return withOutcome(fallback, { stripe: 'error', reason });
  }
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

  // Prefixed so that log scanners (and the tests' leak check) can recognise one.
  const token = `inst_${randomBytes(32).toString('base64url')}`;
  const now = clock.now();
  const connectionId = newConnectionId();
  const install: PendingInstall = {
    installHash: hashInstallToken(token),
    orgId: state.orgId,
    userId: state.userId,
    mode: state.mode,
    returnTo: state.returnTo,
    connectionId,
    secretName: `${config.TOKEN_SECRET_PREFIX}${state.orgId}/${connectionId}`,
    accountId: grant.accountId,
    livemode: grant.livemode,
    scope: grant.scope,
    createdAt: now.toISOString(),
    expiresAt: new Date(now.getTime() + INSTALL_TTL_MS).toISOString(),
  };
  // Intent first: a secret is never created without the record that the sweep removes it by.
  await deps.installs.put(install);
  try {
    await deps.vault.create(
      install.secretName,
      { ...grant, obtainedAt: now.toISOString() },
      {
        org: state.orgId,
        account: grant.accountId,
        connection: connectionId,
        livemode: String(grant.livemode),
      },
    );
  } catch (error) {
    await deps.installs.delete(install.installHash).catch(() => undefined);
    throw error;
  }
  logger.info('install waiting for its confirmation', { accountId: grant.accountId, connectionId });
  return withOutcome(state.returnTo, { stripe: 'confirm', install: token });
}

/** 404: the install token is unknown, used or expired. */
const installGone = () =>
  new HttpError(
    404,
    'install_not_found',
    'This Stripe installation link has expired or was already used. Click Connect Stripe to start again.',
  );

/**
 * `POST …/connect/confirm`: the signed-in user who started the connect turns
 * the pending install into the org's connection, and its first sync is queued.
 */
export async function confirmInstall(deps: ConfirmDeps, caller: Caller, token: string): Promise<StatusView> {
  const { installs, clock } = deps;
  const hash = hashInstallToken(token);
  const pending = await installs.get(hash);
  if (!pending || pending.expiresAt <= clock.now().toISOString()) throw installGone();
  if (pending.orgId !== caller.orgId || pending.userId !== caller.userId) {
    // Said without naming the org or the account: the person asking may be anyone with the link.
    logger.warn('an install was confirmed by someone other than who started it', { orgId: caller.orgId });
    throw new HttpError(
      403,
      'install_not_yours',
      'This Stripe installation was started by another Defrr user, so nothing was connected. Ask the person who sent you the link to finish it, or click Connect Stripe to connect your own Stripe account.',
    );
  }
  const claimedAt = clock.now().toISOString();
  const install = await installs.claim(hash, claimedAt);
  if (!install) throw installGone();
  logger.appendKeys({ orgId: install.orgId });
  // The secret exists: the callback gave out the install token only once it was created.
  let connection: Connection;
  try {
    connection = await storeConnection(deps, install);
  } catch (error) {
    // Nothing points at the install's secret yet (or the connection does, and confirming again finishes
    // the rest): let the user try again.
    await installs.release(hash, claimedAt).catch(() => undefined);
    throw error;
  }
  await installs.delete(hash);
  await queueFirstSync(deps, connection);
  await tell(deps.events, 'Stripe Connection Connected', {
    ...aboutConnection(connection.orgId, connection),
    at: clock.now().toISOString(),
  });
  logger.info('connected', { accountId: connection.accountId, connectionId: connection.connectionId });
  return connectionStatus(deps, caller.orgId);
}

/**
 * The account link, then the connection item (its first sync queued and
 * due) that points at the link and the secret; the replaced connection's
 * secret is noted before and deleted after, and its link removed.
 */
async function storeConnection(deps: ConfirmDeps, install: PendingInstall): Promise<Connection> {
  const { store, clock } = deps;
  const { orgId, connectionId } = install;
  // The org's connection to this account in this mode, if it has one: connecting it again
  // re-authorises it in place (its records and history stay); otherwise a new one.
  const existing = (await store.listConnections(orgId)).find(
    (c) => c.accountId === install.accountId && c.livemode === install.livemode,
  );
  const ref: ConnectionRef = existing
    ? refOf(existing)
    : { orgId, slot: slotFor(install.livemode ? 'live' : 'test', install.accountId) };
  await store.putAccountLink({
    accountId: install.accountId,
    orgId,
    slot: ref.slot,
    connectionId,
    livemode: install.livemode,
  });
  for (let attempt = 0; ; attempt++) {
    const now = clock.now();
    const previous = await store.getConnection(ref);
    // An erase of this connection's records is under way: a new sync's records could go with
    // them. The install is kept; confirming again once the erase is done connects it. An erase
    // nobody is working on (its message lost) is sent again.
    const erasure = previous?.erasure;
    if (previous && erasure && erasure.state !== 'done') {
      if ((erasure.leaseUntil ?? 0) <= now.getTime())
        await deps.syncQueue
          .send({ ...ref, connectionId: previous.connectionId, reason: 'erase' })
          .catch((error: unknown) =>
            logger.warn('could not queue the erase again', { error: describeError(error) }),
          );
      throw new HttpError(
        409,
        'erase_in_progress',
        'Defrr is erasing the records of this Stripe account; try again in a minute.',
        { headers: { 'retry-after': '60' } },
      );
    }
    if (previous?.secretName && previous.connectionId !== connectionId) {
      await store.noteOrphanedSecret(orgId, previous.secretName, dueIn(now, RETIRE_GRACE_MS));
    }
    const connection: Connection = {
      orgId,
      slot: ref.slot,
      connectionId,
      status: 'connected',
      statusReason: null,
      accountId: install.accountId,
      livemode: install.livemode,
      scope: install.scope,
      secretName: install.secretName,
      connectedAt: now.toISOString(),
      authorizedAt: install.createdAt,
      connectedBy: install.userId,
      updatedAt: now.toISOString(),
      version: (previous?.version ?? 0) + 1,
      sync: { ...idleSync(), state: 'queued', queuedAt: now.toISOString() },
      // Reconnected (or re-authorised): its records stay, and its first run reads everything
      // again (the checkpoints were the old connection's), but only a full pass, which marks
      // what it did not see, finds what Stripe deleted while nothing was listening.
      ...(previous
        ? {
            fullSync: newFullPass(randomUUID(), [...LISTED_RESOURCES], now.toISOString()),
          }
        : {}),
    };
    try {
      await store.putConnection(connection, previous?.version ?? null, dueIn(now, SENDING_SYNC_DUE_MS));
    } catch (error) {
      // Another change came first (a concurrent confirm, a disconnect): look again and replace it.
      // Each round one writer wins, so a few racing confirmations all get their turn.
      if (error instanceof VersionConflictError && attempt < 9) {
        await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 45));
        continue;
      }
      throw error;
    }
    if (previous && previous.connectionId !== connectionId) await retire(deps, previous);
    return connection;
  }
}

/** The replaced connection's tokens and link go; a secret that cannot be deleted is left to the sweep. */
async function retire(deps: Pick<ConfirmDeps, 'store' | 'vault' | 'clock'>, previous: Connection) {
  const { store, vault } = deps;
  if (previous.secretName) {
    const secretName = previous.secretName;
    try {
      await vault.delete(secretName);
      await store.forgetOrphanedSecret(previous.orgId, secretName);
    } catch (error) {
      logger.error('could not delete a replaced connection secret; the sweep deletes it', {
        secretName,
        error: describeError(error),
      });
      await store.noteOrphanedSecret(previous.orgId, secretName, deps.clock.now().toISOString());
    }
  }
  await store.deleteAccountLink(previous.accountId, previous.orgId, previous.connectionId);
}

/**
 * Sends the first sync's job; the connection already says it is queued and
 * due soon, so if the send fails (or this process dies first) the sweep sends
 * it. Once sent, it is due only as late as any queued sync.
 */
async function queueFirstSync(deps: ConfirmDeps, connection: Connection): Promise<void> {
  const { syncQueue, store, clock } = deps;
  try {
    await syncQueue.send({
      ...refOf(connection),
      connectionId: connection.connectionId,
      reason: 'initial',
    });
    await store.setSyncDue(
      refOf(connection),
      connection.connectionId,
      dueIn(clock.now(), QUEUED_SYNC_DUE_MS),
    );
  } catch (error) {
    logger.error('could not queue the first sync; the sweep queues it', { error: describeError(error) });
  }
}
