import { randomUUID } from 'node:crypto';
import Stripe from 'stripe';
import { deleteOrphanedSecrets } from '../connect/end-connection.js';
import type { Connection, SyncError } from '../domain/connection.js';
import type { SyncJob } from '../domain/sync-job.js';
import { describeError } from '../http/handler.js';
import { logger } from '../logger.js';
import { count, MetricNames, MetricUnit, metrics } from '../metrics.js';
import type { Clock } from '../ports/clock.js';
import type { ConnectionStore } from '../ports/connection-store.js';
import type { EventPublisher } from '../ports/event-publisher.js';
import type { JobQueue } from '../ports/job-queue.js';
import type { RecordsStore, RecordWrite } from '../ports/records-store.js';
import { StripeUnavailableError } from '../ports/stripe-token-client.js';
import type { TokenVault } from '../ports/token-vault.js';
import {
  type Observation,
  RESOURCES,
  type ResourceDef,
  recordVersion,
  type StripeObject,
} from '../records/registry.js';
import { STRIPE_API_VERSION } from '../stripe/api-version.js';
import {
  ConnectionUnavailableError,
  type StripeAccess,
  type StripeSession,
} from '../stripe/stripe-access.js';
import { answeredAt } from '../stripe/stripe-time.js';
import { Backfill } from './backfill.js';
import type { Checkpoint, CheckpointStore } from './checkpoint.js';
import { dueIn, QUEUED_SYNC_DUE_MS } from './dispatch.js';
import { incremental } from './incremental.js';
import { RequestBudget } from './request-budget.js';
import { callStripe, retryReason } from './stripe-calls.js';

export interface SyncConfig {
  /** Requests per second per account (Stripe allows 100 live, 25 in test mode). */
  budgetLive: number;
  budgetTest: number;
  /** Parallel slices of a backfill when pages are slow. */
  maxSlices: number;
  /** Stop and re-queue when the function has less than this left. */
  safetyMs: number;
  /**
   * How long a sync lease lasts without renewal: a run renews it every
   * `heartbeatMs`, so a worker that died is taken over within about this long.
   */
  leaseMs: number;
  heartbeatMs: number;
  /** A cursor older than this (seconds) is close to /v1/events' 30 days: backfill again instead. */
  maxCursorAgeSeconds: number;
  retry: { maxAttempts: number; baseDelayMs: number; maxDelayMs: number };
  /** How long a job asked for during a run waits before it looks again (SQS allows up to 900). */
  deferSeconds: number;
}

export const DEFAULT_SYNC_CONFIG: SyncConfig = {
  budgetLive: 80,
  budgetTest: 20,
  maxSlices: 12,
  safetyMs: 60_000,
  leaseMs: 3 * 60_000,
  heartbeatMs: 45_000,
  maxCursorAgeSeconds: 29 * 86_400,
  retry: { maxAttempts: 8, baseDelayMs: 250, maxDelayMs: 8000 },
  deferSeconds: 60,
};

export interface SyncDeps {
  store: ConnectionStore;
  /** Only to delete secrets a failed connect left behind; tokens are read through `access`. */
  vault: TokenVault;
  checkpoints: CheckpointStore;
  records: RecordsStore;
  access: StripeAccess;
  syncQueue: JobQueue<SyncJob>;
  events: EventPublisher;
  clock: Clock;
  config: SyncConfig;
  sleep?: (ms: number) => Promise<void>;
  /** Lets tests interrupt a run (a crash) at a chosen point. */
  onPageStored?: (resource: string, pages: number) => void | Promise<void>;
}

export type SyncOutcome =
  | {
      outcome: 'completed';
      counts: Record<string, number>;
      written: Record<string, number>;
      requests: number;
    }
  | { outcome: 'continued'; requests: number }
  /** Some resources failed (Stripe refused their requests for good); the others are up to date. */
  | { outcome: 'partial'; failed: string[]; counts: Record<string, number>; requests: number }
  | { outcome: 'skipped'; reason: 'held' | 'gone' | 'replaced' }
  | { outcome: 'deferred' }
  | { outcome: 'stopped'; reason: string };

/** An object to store, with when Stripe showed it and the API version that rendered it. */
export interface StoredObject {
  object: StripeObject;
  observed: Observation;
  deleted?: boolean;
  /** Default: the pinned version (every list and retrieve asks for it). */
  apiVersion?: string;
}

/** The connection ended (revoked, disconnected, replaced) during the run: store nothing more. */
export class ConnectionGoneError extends Error {
  override name = 'ConnectionGoneError';
}

class Unauthorized extends Error {
  override name = 'Unauthorized';
}

/**
 * One run of a connection's sync: everything a run shares (the Stripe session,
 * the account's request budget, the guard that stops writes once the
 * connection is gone, counters) and the calls its passes make.
 */
export class SyncRun {
  readonly startedAt: number;
  requests = 0;
  retries = 0;
  /** Objects written this run, per resource. */
  readonly written: Record<string, number> = {};
  stopRequested = false;
  private lastProgressAt = 0;
  /** Access tokens a refresh after a 401 gave, until a request succeeds with them. */
  private readonly unproven = new Set<string>();
  /** The refresh under way after a 401: every request that got one waits for it. */
  private refreshing: Promise<StripeSession> | undefined;
  readonly budget: RequestBudget;
  readonly accountId: string;
  /** Another worker took the lease over (ours ran out): this run writes nothing more. */
  leaseLost = false;

  constructor(
    readonly deps: SyncDeps,
    readonly job: SyncJob,
    private session: StripeSession,
    private readonly remainingMs: () => number,
  ) {
    this.startedAt = deps.clock.now().getTime();
    this.accountId = session.connection.accountId;
    this.budget = new RequestBudget(
      session.connection.livemode ? deps.config.budgetLive : deps.config.budgetTest,
    );
  }

  get connection(): Connection {
    return this.session.connection;
  }

  nowSeconds(): number {
    return Math.floor(this.deps.clock.now().getTime() / 1000);
  }

  /**
   * Stripe's clock less ours (ms), from the `Date` of Stripe's latest answer: a lower bound, as
   * the answer was sent at or after the second it names.
   */
  private stripeOffsetMs: number | undefined;

  private noteAnswer(result: unknown) {
    const at = answeredAt(result);
    if (at !== undefined) this.stripeOffsetMs = at * 1000 - this.deps.clock.now().getTime();
  }

  /**
   * Now on Stripe's clock (unix seconds), never ahead of it: what bounds a snapshot, so that
   * no skew between this service and Stripe moves it into Stripe's future. Asks Stripe (the
   * run's one `/v1/account`) when nothing has answered yet.
   */
  async stripeNow(): Promise<number> {
    if (this.stripeOffsetMs === undefined) await this.account().catch(() => undefined);
    const offset = this.stripeOffsetMs ?? 0;
    return Math.floor((this.deps.clock.now().getTime() + offset) / 1000) - 1;
  }

  /** When Stripe showed what a list page or retrieve holds: the second before its answer. */
  readAt(result: unknown): Observation {
    const at = answeredAt(result);
    const offset = this.stripeOffsetMs ?? 0;
    return {
      at: (at ?? Math.floor((this.deps.clock.now().getTime() + offset) / 1000)) - 1,
      by: 'read',
    };
  }

  /** Stripe's latency (without budget waits), a moving average. */
  latencyMs: number | undefined;

  private accountRequest: Promise<Stripe.Account> | undefined;

  /** The connected account (`/v1/account`): one request per run, shared; asked again after a failure. */
  account(): Promise<Stripe.Account> {
    if (!this.accountRequest) {
      const request = this.call((stripe) => stripe.accounts.retrieveCurrent());
      request.catch(() => {
        if (this.accountRequest === request) this.accountRequest = undefined;
      });
      this.accountRequest = request;
    }
    return this.accountRequest;
  }

  /**
   * The account's name for the status page, read on a connection's first run
   * (beside its first pages, never holding them up); a failure leaves it for the next run.
   */
  async noteAccountName(): Promise<void> {
    if (this.connection.accountName !== undefined) return;
    try {
      const account = await this.account();
      const name = account.settings?.dashboard?.display_name || account.business_profile?.name || null;
      await this.deps.store.noteAccountName(this.job.orgId, this.job.connectionId, name);
    } catch (error) {
      logger.warn('could not read the account name; the next run tries again', {
        error: describeError(error),
      });
    }
  }

  /** How many requests are worth having in flight: enough to use the budget at Stripe's latency. */
  parallelism(max: number): number {
    if (this.latencyMs === undefined) return 1;
    return Math.max(1, Math.min(max, Math.ceil((this.budget.perSecond * this.latencyMs * 1.25) / 1000)));
  }

  /** True when the function's time is running out: finish the page in hand, start no other. */
  shouldStop(): boolean {
    return this.stopRequested || this.remainingMs() < this.deps.config.safetyMs;
  }

  /**
   * A Stripe request under the budget, retried on 429/5xx. A 401 refreshes
   * the token, once for all the run's requests: those that got a 401 while a
   * refresh was under way, or with a token already replaced, wait for it and
   * try again. Only a 401 on a token fresh from that refresh (one that has not
   * yet worked) means the connection needs re-authorisation.
   */
  async call<T>(fn: (stripe: Stripe) => Promise<T>): Promise<T> {
    for (;;) {
      const session = this.session;
      try {
        const result = await callStripe(
          async () => {
            const started = Date.now();
            try {
              const result = await fn(session.stripe);
              this.noteAnswer(result);
              const latency = Date.now() - started;
              this.latencyMs = this.latencyMs === undefined ? latency : this.latencyMs * 0.7 + latency * 0.3;
              return result;
            } catch (error) {
              if (error instanceof Stripe.errors.StripeAuthenticationError) throw new Unauthorized();
              throw error;
            }
          },
          {
            budget: this.budget,
            ...this.deps.config.retry,
            ...(this.deps.sleep ? { sleep: this.deps.sleep } : {}),
            onRequest: () => {
              this.requests++;
            },
            onRetry: () => {
              this.retries++;
            },
          },
        );
        // The token works: when it expires later, it may be refreshed again.
        this.unproven.delete(session.accessToken);
        return result;
      } catch (error) {
        if (!(error instanceof Unauthorized)) throw error;
        if (this.session.accessToken !== session.accessToken) continue; // refreshed meanwhile: try the new one
        if (this.unproven.has(session.accessToken)) {
          await this.deps.access.markNeedsReauth(this.connection, 'unauthorized');
          throw new ConnectionUnavailableError('needs_reauth', 'Stripe refused the refreshed access token');
        }
        await this.refreshOnce(session.accessToken);
      }
    }
  }

  private refreshOnce(failedAccessToken: string): Promise<StripeSession> {
    if (!this.refreshing) {
      this.refreshing = this.deps.access
        .refreshAfterUnauthorized(this.job.orgId, failedAccessToken)
        .then((session) => {
          this.unproven.add(session.accessToken);
          this.session = session;
          return session;
        })
        .finally(() => {
          this.refreshing = undefined;
        });
    }
    return this.refreshing;
  }

  /** Stops the run if the connection is no longer this one and connected. */
  async ensureCurrent(): Promise<void> {
    const current = await this.deps.store.getConnection(this.job.orgId);
    if (current?.connectionId !== this.job.connectionId || current.status !== 'connected') {
      throw new ConnectionGoneError(
        `the connection is ${current?.connectionId === this.job.connectionId ? current.status : 'gone'}`,
      );
    }
  }

  /**
   * Stores a page of objects, each with when Stripe showed it, after checking
   * the connection still exists; fetches invoice lines Stripe did not embed.
   * Returns how many objects were new.
   */
  async store(def: ResourceDef, objects: StoredObject[]): Promise<number> {
    if (objects.length === 0) return 0;
    if (this.leaseLost) throw new ConnectionGoneError('another worker took the sync over');
    await this.ensureCurrent();
    const writes: RecordWrite[] = objects.map(({ object, observed, deleted, apiVersion }) => ({
      orgId: this.job.orgId,
      accountId: this.accountId,
      resource: def.name,
      object,
      version: recordVersion(def, object, observed),
      source: 'sync',
      apiVersion: apiVersion ?? STRIPE_API_VERSION,
      ...(deleted ? { deleted } : {}),
    }));
    const result = await this.deps.records.putMany(writes);
    // Counted at once: a run that dies between the two leaves its counts in doubt (see runSync).
    await this.deps.records.addCounts(this.job.orgId, this.accountId, result.deltas);
    if (def.name === 'invoices') await this.storeInvoiceLines(writes);
    this.written[def.name] = (this.written[def.name] ?? 0) + result.written;
    count(MetricNames.recordsSynced, result.written);
    return result.created;
  }

  private async storeInvoiceLines(writes: RecordWrite[]) {
    for (const write of writes) {
      const lines = write.object.lines as { data?: StripeObject[]; has_more?: boolean } | undefined;
      if (!lines?.has_more || !lines.data?.length) continue;
      const rest: StripeObject[] = [];
      let after = lines.data[lines.data.length - 1]?.id;
      for (;;) {
        const page = await this.call((stripe) =>
          stripe.invoices.listLineItems(write.object.id, {
            limit: 100,
            ...(after ? { starting_after: after } : {}),
          }),
        );
        rest.push(...(page.data as unknown as StripeObject[]));
        if (!page.has_more || page.data.length === 0) break;
        after = page.data[page.data.length - 1]?.id;
      }
      await this.deps.records.putInvoiceLines(
        this.job.orgId,
        this.accountId,
        write.object.id,
        write.version,
        rest,
      );
    }
  }

  /** Progress for the status page, at most once a second. */
  async progress(resource: string, records: number): Promise<void> {
    const now = Date.now();
    if (now - this.lastProgressAt < 1000) return;
    this.lastProgressAt = now;
    await this.deps.store.updateSync(this.job.orgId, this.job.connectionId, {
      progress: { resource, records },
    });
  }

  async saveCheckpoint(checkpoint: Checkpoint): Promise<void> {
    checkpoint.updatedAt = this.deps.clock.now().toISOString();
    await this.deps.checkpoints.put(checkpoint);
  }
}

/**
 * Syncs one connection: takes its lease (a second worker exits quietly), then
 * for each resource in the registry backfills (first time) or reads what
 * changed, saving a checkpoint after every stored page. Near the deadline it
 * saves and re-queues itself. Ends with the sync state and a
 * `Stripe Sync Completed` event. A fault that can pass throws, so the queue
 * retries the message; one that cannot (needs re-authorisation, revoked) is
 * recorded and acknowledged.
 */
export async function runSync(deps: SyncDeps, job: SyncJob, remainingMs: () => number): Promise<SyncOutcome> {
  const { store, clock, config } = deps;
  const owner = `sync-${randomUUID()}`;
  const now = clock.now().getTime();
  const lease = await store.acquireSyncLease(job.orgId, job.connectionId, owner, now, now + config.leaseMs);
  if (!lease.ok) {
    // Asked for after the run in progress started (by hand, or by an event too large to queue):
    // that run may have read past it already, so this one waits for it to end.
    if (lease.reason === 'held' && (job.reason === 'manual' || job.reason === 'webhook')) {
      await deps.syncQueue.send(job, { delaySeconds: config.deferSeconds });
      logger.info('sync deferred until the run in progress ends', { orgId: job.orgId, reason: job.reason });
      return { outcome: 'deferred' };
    }
    logger.info('sync skipped', { orgId: job.orgId, reason: lease.reason });
    return { outcome: 'skipped', reason: lease.reason };
  }
  logger.appendKeys({ orgId: job.orgId, syncRun: owner, accountId: lease.connection.accountId });
  const accountId = lease.connection.accountId;
  let continuing = false;
  const release = async (
    sync: Parameters<ConnectionStore['releaseSyncLease']>[2],
    dueAt?: string,
    options?: { countsInDoubt?: boolean },
  ) => {
    const released = await store.releaseSyncLease(job.orgId, owner, sync, dueAt, options);
    // Webhooks left their changes to this run while it held the lease: another run reads them
    // from /v1/events (a run that continues reads them anyway).
    if (released.syncAgain && !continuing) {
      await deps.syncQueue.send({ orgId: job.orgId, connectionId: job.connectionId, reason: 'webhook' });
      logger.info('webhooks arrived during the run: another sync is queued to apply them');
    }
  };
  const storedCounts = async () => (await deps.records.counts(job.orgId, accountId)) ?? {};
  const errorAt = () => clock.now().toISOString();

  let run: SyncRun | undefined;
  // The lease lives while this run does: a worker that dies stops renewing it, and the sweep
  // hands the sync to another within about `leaseMs`.
  const heartbeat = setInterval(() => {
    store
      .renewSyncLease(job.orgId, owner, clock.now().getTime() + config.leaseMs)
      .then((held) => {
        if (held || !run) return;
        logger.warn('the sync lease was taken over; this run stops');
        run.leaseLost = true;
        run.stopRequested = true;
      })
      .catch((error: unknown) =>
        logger.warn('could not renew the sync lease', { error: describeError(error) }),
      );
  }, config.heartbeatMs);
  heartbeat.unref();
  try {
    // Left behind by a failed step earlier: best effort, it never holds up the sync.
    await deleteOrphanedSecrets({ store, vault: deps.vault, clock }, job.orgId).catch((error: unknown) =>
      logger.warn('could not delete orphaned secrets; the next run tries again', {
        error: describeError(error),
      }),
    );
    const session = await deps.access.forOrg(job.orgId);
    if (session.connection.connectionId !== job.connectionId) {
      await release({ state: 'idle', progress: null });
      return { outcome: 'skipped', reason: 'replaced' };
    }
    run = new SyncRun(deps, job, session, remainingMs);
    const named = run.noteAccountName();
    // The counts are the records stored. Kept as each write changes them, they are counted
    // afresh when that may have failed: a run or webhook that died between a write and its
    // count, or a partition counted for the first time (its records written by older code).
    const doubt = lease.connection.countsInDoubt;
    if (lease.abandoned || doubt || (await deps.records.counts(job.orgId, accountId)) === undefined) {
      for (const def of RESOURCES) await deps.records.recount(job.orgId, accountId, def.name);
      if (doubt) await store.clearCountsInDoubt(job.orgId, doubt);
      logger.info('counted the stored records afresh', { abandoned: lease.abandoned, doubt: Boolean(doubt) });
    }
    const counts: Record<string, number> = {};
    // When Stripe is slow, resources run side by side under the one request budget, so a slow page
    // of one never idles the others; when it is fast, one at a time (an interruption then loses at
    // most the one page in flight).
    const pending = [...RESOURCES];
    const active = new Set<Promise<void>>();
    let failure: unknown;
    // Stripe refusing or failing a resource's requests concerns that resource alone: the others go on.
    const failedResources = new Map<string, unknown>();
    const current = run;
    while ((pending.length > 0 || active.size > 0) && failure === undefined) {
      while (
        pending.length > 0 &&
        active.size < current.parallelism(RESOURCES.length) &&
        !current.shouldStop()
      ) {
        const def = pending.shift() as ResourceDef;
        const task: Promise<void> = syncResource(current, def)
          .then(() => undefined)
          .catch((error: unknown) => {
            if (isResourceFailure(error)) {
              failedResources.set(def.name, error);
              logger.warn('a resource failed; the others go on', {
                resource: def.name,
                error: describeError(error),
                retryable: retryReason(error) !== undefined,
              });
              return;
            }
            failure ??= error;
            current.stopRequested = true;
          })
          .finally(() => active.delete(task));
        active.add(task);
      }
      if (active.size === 0) break;
      // Look again when one finishes, or soon: the latency that decides how many may run is still being learned.
      // (unref: a run stuck on a call that never returns must not keep its process alive; Lambda's
      // timeout ends it there, and the sweep resumes it.)
      await Promise.race([...active, new Promise((resolve) => setTimeout(resolve, 250).unref())]);
    }
    await Promise.allSettled(active);
    await named;
    if (failure !== undefined) throw failure;
    const resourceErrors = Object.fromEntries(
      [...failedResources].map(([name, error]) => [name, resourceError(name, error, errorAt())]),
    );
    Object.assign(counts, await storedCounts());
    if (run.shouldStop()) {
      await deps.syncQueue.send({ orgId: job.orgId, connectionId: job.connectionId, reason: 'continue' });
      continuing = true;
      await release(
        { state: 'queued', queuedAt: clock.now().toISOString(), counts },
        dueIn(clock.now(), QUEUED_SYNC_DUE_MS),
      );
      logger.info('sync paused near the deadline and re-queued', { requests: run.requests });
      return { outcome: 'continued', requests: run.requests };
    }
    if (failedResources.size > 0) {
      count(MetricNames.syncFailures);
      const names = [...failedResources.keys()];
      await release({
        state: 'failed',
        progress: null,
        counts,
        resourceErrors,
        lastError: {
          code: 'resource_failed',
          message: `Stripe did not give us ${names.join(', ')}; everything else is up to date. The next sync retries ${names.length > 1 ? 'them' : 'it'} from where it stopped.`,
          at: errorAt(),
        },
      });
      // A passing fault (429, 5xx, a dropped connection) is retried with the message; one Stripe says
      // will not succeed if repeated waits for the next sync.
      const passing = [...failedResources.values()].find((error) => retryReason(error) !== undefined);
      if (passing) throw passing;
      return { outcome: 'partial', failed: names, counts, requests: run.requests };
    }
    const finishedAt = clock.now();
    await release({
      state: 'idle',
      resourceErrors: null,
      lastSuccessAt: finishedAt.toISOString(),
      lastError: null,
      counts,
      progress: null,
      queuedAt: null,
      durationMs: finishedAt.getTime() - run.startedAt,
    });
    metrics.addMetric(
      MetricNames.syncDuration,
      MetricUnit.Milliseconds,
      finishedAt.getTime() - run.startedAt,
    );
    await deps.events.publish('Stripe Sync Completed', {
      orgId: job.orgId,
      accountId: run.accountId,
      connectionId: job.connectionId,
      livemode: run.connection.livemode,
      reason: job.reason,
      counts: run.written,
      totals: counts,
      window: { from: new Date(run.startedAt).toISOString(), to: finishedAt.toISOString() },
    });
    logger.info('sync completed', { requests: run.requests, retries: run.retries, written: run.written });
    return { outcome: 'completed', counts, written: run.written, requests: run.requests };
  } catch (error) {
    if (
      error instanceof ConnectionGoneError ||
      (error instanceof ConnectionUnavailableError && error.code !== 'needs_reauth')
    ) {
      logger.warn('sync stopped: the connection ended during the run', { reason: error.message });
      await release({ state: 'idle', progress: null });
      return {
        outcome: 'stopped',
        reason: error instanceof ConnectionUnavailableError ? error.code : 'gone',
      };
    }
    if (error instanceof ConnectionUnavailableError) {
      count(MetricNames.syncFailures);
      await release({
        state: 'failed',
        progress: null,
        lastError: { code: 'needs_reauth', message: 'Reconnect Stripe to resume syncing.', at: errorAt() },
      });
      return { outcome: 'stopped', reason: 'needs_reauth' };
    }
    count(MetricNames.syncFailures);
    const code =
      error instanceof StripeUnavailableError ||
      error instanceof Stripe.errors.StripeAPIError ||
      error instanceof Stripe.errors.StripeConnectionError
        ? 'stripe_unavailable'
        : error instanceof Stripe.errors.StripeRateLimitError
          ? 'rate_limited'
          : 'internal';
    logger.error('sync failed; the message will be retried', {
      code,
      error: describeError(error),
      requests: run?.requests,
    });
    await release(
      {
        state: 'failed',
        progress: null,
        lastError: {
          code,
          message:
            code === 'internal'
              ? 'The sync failed; it will be retried.'
              : 'Stripe was unavailable; the sync will be retried.',
          at: errorAt(),
        },
      },
      undefined,
      // A fault of our own (DynamoDB, say) may have come between a write and its count.
      { countsInDoubt: code === 'internal' },
    );
    throw error;
  } finally {
    clearInterval(heartbeat);
  }
}

/**
 * Stripe refused or could not answer one of the resource's requests (after the
 * retries): that resource fails, not the run. A 401 is not one (it is the
 * connection's), nor is a fault of our own (DynamoDB, a bug).
 */
function isResourceFailure(error: unknown): boolean {
  return (
    error instanceof StripeUnavailableError ||
    (error instanceof Stripe.errors.StripeError &&
      !(error instanceof Stripe.errors.StripeAuthenticationError))
  );
}

function resourceError(resource: string, error: unknown, at: string): SyncError {
  const stripe = error instanceof Stripe.errors.StripeError ? error : undefined;
  const status = stripe?.statusCode;
  const code =
    stripe instanceof Stripe.errors.StripePermissionError
      ? 'permission_denied'
      : retryReason(error) !== undefined
        ? 'stripe_unavailable'
        : 'stripe_refused';
  const message =
    code === 'permission_denied'
      ? `Stripe did not allow reading ${resource} (the app may need a permission the user has not granted).`
      : code === 'stripe_unavailable'
        ? `Stripe was unavailable while reading ${resource}${status ? ` (${status})` : ''}.`
        : `Stripe refused a request for ${resource}${status ? ` (${status})` : ''}.`;
  return { code, message, at };
}

/** Backfill when there is no usable checkpoint, then read what changed since. */
async function syncResource(run: SyncRun, def: ResourceDef): Promise<Checkpoint> {
  const { checkpoints, config } = run.deps;
  let checkpoint = await checkpoints.get(run.job.orgId, def.name);
  if (checkpoint && checkpoint.connectionId !== run.job.connectionId) checkpoint = undefined;
  if (checkpoint?.phase === 'incremental' && def.eventTypes.length > 0) {
    const newest = checkpoint.cursor?.created ?? checkpoint.since;
    if (newest < run.nowSeconds() - config.maxCursorAgeSeconds) {
      logger.info('the events cursor is near the end of Stripe’s 30 days: backfilling again', {
        resource: def.name,
      });
      checkpoint = undefined;
    }
  }
  if (!checkpoint) checkpoint = await Backfill.start(run, def);
  if (checkpoint.phase === 'backfill') {
    await new Backfill(run, def, checkpoint).run();
    if (run.shouldStop() && checkpoint.phase === 'backfill') return checkpoint;
  }
  const restart = await incremental(run, def, checkpoint);
  if (restart) {
    const fresh = await Backfill.start(run, def);
    await new Backfill(run, def, fresh).run();
    if (fresh.phase === 'incremental') await incremental(run, def, fresh);
    return fresh;
  }
  return checkpoint;
}
