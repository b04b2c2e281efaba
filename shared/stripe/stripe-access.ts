import { randomUUID } from 'node:crypto';
import type Stripe from 'stripe';
import { endConnection } from '../connect/end-connection.js';
import { type Connection, type ConnectionRef, refOf } from '../domain/connection.js';
import { describeError } from '../http/handler.js';
import { logger } from '../logger.js';
import { count, MetricNames } from '../metrics.js';
import type { Clock } from '../ports/clock.js';
import type { ConnectionStore } from '../ports/connection-store.js';
import type { EventPublisher } from '../ports/event-publisher.js';
import {
  OAuthGrantError,
  type StripeTokenClient,
  StripeUnavailableError,
} from '../ports/stripe-token-client.js';
import { SecretNotFoundError, type StripeTokens, type TokenVault } from '../ports/token-vault.js';
import { type StripeClientOptions, stripeClient } from './endpoint.js';

function changedCode(current: Connection | undefined): ConnectionUnavailableError['code'] {
  if (!current) return 'not_connected';
  return current.status === 'connected' ? 'replaced' : current.status;
}

/** The connection cannot be used: not connected, or it needs the user to connect again. */
export class ConnectionUnavailableError extends Error {
  override name = 'ConnectionUnavailableError';
  constructor(
    readonly code: 'not_connected' | 'needs_reauth' | 'revoked' | 'disconnected' | 'replaced',
    message: string,
  ) {
    super(message);
  }
}

export interface StripeAccessDeps {
  store: ConnectionStore;
  vault: TokenVault;
  tokens: StripeTokenClient;
  clock: Clock;
  client: StripeClientOptions;
  /**
   * Tells Defrr a revocation: a refresh Stripe refuses after an uninstall that may have been this
   * install's (`uninstallInDoubt`) ends the connection as revoked. Without it, as needs_reauth.
   */
  events?: EventPublisher;
  /** Access tokens live an hour (Stripe sends no `expires_in`). */
  accessTokenTtlMs?: number;
  /** Refresh when the token expires within this window. */
  refreshWindowMs?: number;
  leaseMs?: number;
  /** How long a caller waits for another's refresh before giving up. */
  waitMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

export interface StripeSession {
  stripe: Stripe;
  connection: Connection;
  /** Which token this client uses, for `refreshAfterUnauthorized`. */
  accessToken: string;
}

/**
 * Ready stripe-node clients for connections. Refresh tokens rotate (each
 * refresh kills the previous one), so refreshing is single-flight per
 * connection across every process: a lease taken by a conditional update on
 * the connection item, the secret re-read after taking it, and the rotated
 * refresh token saved before the new access token is used. Others wait with
 * jitter and re-read.
 */
export class StripeAccess {
  private readonly inFlight = new Map<string, Promise<StripeTokens>>();
  private readonly owner = `refresh-${randomUUID()}`;
  private readonly ttl: number;
  private readonly window: number;
  private readonly leaseMs: number;
  private readonly waitMs: number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly deps: StripeAccessDeps) {
    this.ttl = deps.accessTokenTtlMs ?? 60 * 60 * 1000;
    this.window = deps.refreshWindowMs ?? 5 * 60 * 1000;
    this.leaseMs = deps.leaseMs ?? 30_000;
    this.waitMs = deps.waitMs ?? 20_000;
    this.sleep = deps.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  /** A session for one of an org's connections, read now. */
  async forRef(ref: ConnectionRef): Promise<StripeSession> {
    return this.forConnection(await this.connected(ref));
  }

  /** A session for a connection the caller has just read (a sync run, from its lease): no second read. */
  async forConnection(connection: Connection): Promise<StripeSession> {
    if (connection.status !== 'connected' || !connection.secretName) {
      const code = connection.status === 'connected' ? 'needs_reauth' : connection.status;
      throw new ConnectionUnavailableError(
        code,
        `the Stripe connection of ${connection.orgId} is ${connection.status}`,
      );
    }
    const tokens = await this.freshTokens(connection);
    return this.session(connection, tokens);
  }

  /**
   * Stripe answered 401 to `failedAccessToken`: refresh once (unless someone
   * already did) and hand back a new client. A second 401 is the caller's cue
   * for needs_reauth.
   */
  async refreshAfterUnauthorized(ref: ConnectionRef, failedAccessToken: string): Promise<StripeSession> {
    const connection = await this.connected(ref);
    const tokens = await this.freshTokens(connection, failedAccessToken);
    return this.session(connection, tokens);
  }

  /** Marks the connection needs_reauth and deletes its tokens (a 401 after a refresh, say). */
  async markNeedsReauth(connection: Connection, reason: string): Promise<void> {
    logger.warn('connection needs re-authorisation', { orgId: connection.orgId, reason });
    await endConnection(this.deps, refOf(connection), 'needs_reauth', reason, connection.connectionId);
  }

  /**
   * Stripe refused the refresh token: the connection needs the user again. If an uninstall within
   * a minute of this install was noted (`uninstallInDoubt`, written only while connected, so the
   * transition's result shows it or the processor, finding needs_reauth, revokes), it was this
   * install's: Stripe kills an uninstalled app's tokens. Then the connection ends as revoked.
   */
  private async grantRefused(connection: Connection): Promise<never> {
    // A note already there: straight to revoked, so no one sees a needs_reauth on the way.
    const current = await this.deps.store.getConnection(refOf(connection));
    if (
      current?.connectionId === connection.connectionId &&
      current.status === 'connected' &&
      current.uninstallInDoubt
    )
      await this.revokeUninstalled(connection, current.uninstallInDoubt);
    // Else needs_reauth; a note written meanwhile shows in the transition's result.
    const ended = await endConnection(
      this.deps,
      refOf(connection),
      'needs_reauth',
      'invalid_grant',
      connection.connectionId,
    );
    if (ended?.status === 'needs_reauth' && ended.uninstallInDoubt)
      await this.revokeUninstalled(connection, ended.uninstallInDoubt);
    // Ended meanwhile (an uninstall revoked it, the user disconnected): that, not needs_reauth.
    if (ended && ended.status !== 'needs_reauth' && ended.status !== 'connected')
      throw new ConnectionUnavailableError(ended.status, `the connection was ${ended.status} meanwhile`);
    // Only a connection that needs the user again counts as a failed refresh (the alarm's metric).
    count(MetricNames.tokenRefreshFailures);
    logger.warn('connection needs re-authorisation', { orgId: connection.orgId, reason: 'invalid_grant' });
    throw new ConnectionUnavailableError('needs_reauth', 'Stripe refused the refresh token');
  }

  /** Ends the connection as revoked by the uninstall noted at `uninstalledAt`, and throws so; returns if it could not. */
  private async revokeUninstalled(connection: Connection, uninstalledAt: string): Promise<void> {
    if (!this.deps.events) return;
    const revoked = await endConnection(
      { ...this.deps, events: this.deps.events },
      refOf(connection),
      'revoked',
      'deauthorized',
      connection.connectionId,
    );
    if (revoked?.status !== 'revoked') return;
    count(MetricNames.connectionsRevoked);
    logger.warn('the app was uninstalled in Stripe: connection revoked', {
      orgId: connection.orgId,
      uninstalledAt,
    });
    throw new ConnectionUnavailableError('revoked', 'the app was uninstalled in Stripe');
  }

  private session(connection: Connection, tokens: StripeTokens): StripeSession {
    return {
      stripe: stripeClient(tokens.accessToken, this.deps.client),
      connection,
      accessToken: tokens.accessToken,
    };
  }

  private async connected(ref: ConnectionRef): Promise<Connection> {
    const { orgId } = ref;
    const connection = await this.deps.store.getConnection(ref);
    if (!connection)
      throw new ConnectionUnavailableError('not_connected', `org ${orgId} has no Stripe connection`);
    if (connection.status !== 'connected' || !connection.secretName) {
      const code = connection.status === 'connected' ? 'needs_reauth' : connection.status;
      throw new ConnectionUnavailableError(code, `the Stripe connection of ${orgId} is ${connection.status}`);
    }
    return connection;
  }

  private usable(tokens: StripeTokens, failedAccessToken?: string): boolean {
    if (failedAccessToken && tokens.accessToken === failedAccessToken) return false;
    return Date.parse(tokens.obtainedAt) + this.ttl - this.window > this.deps.clock.now().getTime();
  }

  private async readTokens(connection: Connection): Promise<StripeTokens> {
    const tokens = await this.deps.vault.read(connection.secretName as string);
    if (tokens) return tokens;
    // Connected but no tokens: only a connection being replaced or ended right now looks like this.
    const current = await this.deps.store.getConnection(refOf(connection));
    if (current?.connectionId !== connection.connectionId || current.status !== 'connected') {
      throw new ConnectionUnavailableError(
        changedCode(current),
        'the connection changed while reading its tokens',
      );
    }
    await this.markNeedsReauth(connection, 'tokens_missing');
    throw new ConnectionUnavailableError('needs_reauth', 'the connection has no tokens');
  }

  private async freshTokens(connection: Connection, failedAccessToken?: string): Promise<StripeTokens> {
    const tokens = await this.readTokens(connection);
    if (this.usable(tokens, failedAccessToken)) return tokens;
    // One refresh per connection in this process; the lease makes it one across processes.
    const key = connection.connectionId;
    let pending = this.inFlight.get(key);
    if (!pending) {
      pending = this.refreshSingleFlight(connection, failedAccessToken).finally(() =>
        this.inFlight.delete(key),
      );
      this.inFlight.set(key, pending);
    }
    return pending;
  }

  private async refreshSingleFlight(
    connection: Connection,
    failedAccessToken?: string,
  ): Promise<StripeTokens> {
    const { store, clock } = this.deps;
    const deadline = clock.now().getTime() + this.waitMs;
    for (;;) {
      const now = clock.now().getTime();
      if (
        await store.acquireRefreshLease(
          refOf(connection),
          connection.connectionId,
          this.owner,
          now,
          now + this.leaseMs,
        )
      ) {
        try {
          // Someone may have refreshed between our read and our lease: re-read first.
          const tokens = await this.readTokens(connection);
          if (this.usable(tokens, failedAccessToken)) return tokens;
          return await this.refresh(connection, tokens);
        } finally {
          await store.releaseRefreshLease(refOf(connection), this.owner);
        }
      }
      // Another process holds the lease: wait with jitter, then look at the secret again.
      await this.sleep(50 + Math.floor(Math.random() * 200));
      const current = await store.getConnection(refOf(connection));
      if (current?.connectionId !== connection.connectionId || current.status !== 'connected') {
        throw new ConnectionUnavailableError(
          changedCode(current),
          'the connection changed during a token refresh',
        );
      }
      const tokens = await this.readTokens(connection);
      if (this.usable(tokens, failedAccessToken)) return tokens;
      if (clock.now().getTime() > deadline) {
        throw new StripeUnavailableError('another token refresh did not finish in time');
      }
    }
  }

  private async refresh(connection: Connection, tokens: StripeTokens): Promise<StripeTokens> {
    const mode = connection.livemode ? 'live' : 'test';
    let grant: Awaited<ReturnType<StripeTokenClient['refresh']>>;
    try {
      grant = await this.deps.tokens.refresh(mode, tokens.refreshToken);
    } catch (error) {
      if (error instanceof OAuthGrantError && error.code === 'invalid_grant')
        return this.grantRefused(connection);
      count(MetricNames.tokenRefreshFailures);
      throw error;
    }
    const next: StripeTokens = {
      accessToken: grant.accessToken,
      refreshToken: grant.refreshToken,
      accountId: grant.accountId || tokens.accountId,
      livemode: grant.livemode,
      scope: grant.scope || tokens.scope,
      obtainedAt: this.deps.clock.now().toISOString(),
    };
    await this.save(connection, next);
    logger.info('refreshed the access token', {
      orgId: connection.orgId,
      connectionId: connection.connectionId,
    });
    return next;
  }

  /**
   * The old refresh token is dead the moment Stripe answered: the new one must
   * be saved. Retried; if it still cannot be, the connection is marked
   * needs_reauth with an alert rather than left silently broken.
   */
  private async save(connection: Connection, tokens: StripeTokens): Promise<void> {
    let lastError: unknown;
    for (let attempt = 0; attempt < 4; attempt++) {
      try {
        await this.deps.vault.write(connection.secretName as string, tokens);
        return;
      } catch (error) {
        lastError = error;
        if (error instanceof SecretNotFoundError) break; // the connection was ended or replaced meanwhile
        await this.sleep(100 * 2 ** attempt);
      }
    }
    count(MetricNames.tokenRefreshFailures);
    logger.error('ALERT: could not save a rotated refresh token; the connection needs re-authorisation', {
      orgId: connection.orgId,
      connectionId: connection.connectionId,
      alert: 'token_save_failed',
      error: describeError(lastError),
    });
    await this.markNeedsReauth(connection, 'token_save_failed').catch(() => undefined);
    throw new ConnectionUnavailableError('needs_reauth', 'the rotated refresh token could not be saved');
  }
}
