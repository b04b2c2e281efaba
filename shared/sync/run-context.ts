import Stripe from 'stripe';
import { type Connection, type ConnectionRef, type FullSync, refOf } from '../domain/connection.js';
import type { SyncJob } from '../domain/sync-job.js';
import { aboutConnection, tellChanges } from '../events/publish.js';
import { describeError } from '../http/handler.js';
import { logger } from '../logger.js';
import { count, MetricNames } from '../metrics.js';
import type { Clock } from '../ports/clock.js';
import type { ConnectionStore } from '../ports/connection-store.js';
import type { EventPublisher } from '../ports/event-publisher.js';
import type { JobQueue } from '../ports/job-queue.js';
import {
  type ChangeTally,
  droppedLines,
  type KnownVersions,
  lineWrites,
  newTally,
  type RecordScope,
  type RecordsStore,
  type RecordWrite,
  scopeOf,
} from '../ports/records-store.js';
import type { RequestShares } from '../ports/request-shares.js';
import type { TokenVault } from '../ports/token-vault.js';
import {
  embeddedLines,
  type LineResourceDef,
  linesOf,
  type Observation,
  RESOURCES,
  type ResourceDef,
  type ResourceName,
  recordVersion,
  resourceByName,
  type StripeObject,
} from '../records/registry.js';
import { STRIPE_API_VERSION } from '../stripe/api-version.js';
import {
  ConnectionUnavailableError,
  type StripeAccess,
  type StripeSession,
} from '../stripe/stripe-access.js';
import { answeredAt } from '../stripe/stripe-time.js';
import type { Checkpoint, CheckpointStore } from './checkpoint.js';
import { type Budget, RequestBudget } from './request-budget.js';
import { SharedRequestBudget } from './shared-budget.js';
import { callStripe } from './stripe-calls.js';

/*
 * What one sync run shares with its passes (the backfill and the incremental pass): its
 * configuration and dependencies, the Stripe session and request budget, the clock it
 * orders by, progress and checkpoints. runSync (sync-run.ts) drives a run; backfill.ts and
 * incremental.ts use it. The three form a line: run-context <- backfill, incremental <- sync-run.
 */

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
  /**
   * How long after it is asked for an erase waits to begin: a webhook that read the connection
   * just before its disconnect has written by then.
   */
  eraseGraceMs: number;
  /**
   * A live first backfill of a resource estimated to hold at least `minObjects` more objects is
   * shared out among `workers` workers (this run and helpers the sync queue brings), in four
   * parts a worker, each claimed for `claimMs` at a time (`FanOut`).
   */
  fanOut: { workers: number; minObjects: number; claimMs: number };
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
  eraseGraceMs: 30_000,
  fanOut: { workers: 8, minObjects: 20_000, claimMs: 2 * 60_000 },
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
  /**
   * Where a live account's request budget is shared across workers and orgs; without it each
   * run budgets alone.
   */
  requestShares?: RequestShares;
  /** Lets tests interrupt a run (a crash) at a chosen point. */
  onPageStored?: (resource: string, pages: number) => void | Promise<void>;
  /**
   * Lets tests check the budget where it is enforced: told each request the budget let
   * through, and when. (Arrival times at an in-process sandbox bunch up whenever the event
   * loop stalls, so they cannot show what the sender guaranteed.)
   */
  onStripeRequest?: (accountId: string, atMs: number) => void;
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
  /** A helper of a shared-out backfill: how many parts it worked on. */
  | { outcome: 'helped'; parts: number; requests: number }
  | { outcome: 'stopped'; reason: string };

/** How long a lease must still hold when a page's writes begin. */
const LEASE_MARGIN_MS = 30_000;

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
  /** The changes written since `Stripe Records Changed` last told them. */
  readonly changes: ChangeTally = newTally();
  private lastToldAt = 0;
  stopRequested = false;
  /**
   * Resources syncing side by side now: they share the request budget, so each backfill keeps
   * pages in flight for its share alone (else every resource would split for the whole budget,
   * paying partial pages and probes for throughput the budget cannot give).
   */
  resourcesRunning = 1;
  private lastProgressAt = 0;
  /** Access tokens a refresh after a 401 gave, until a request succeeds with them. */
  private readonly unproven = new Set<string>();
  /** The refresh under way after a 401: every request that got one waits for it. */
  private refreshing: Promise<StripeSession> | undefined;
  readonly budget: Budget;
  readonly accountId: string;
  /** Where this connection's records live (its org, mode and account). */
  readonly scope: RecordScope;
  /** Another worker took the lease over (ours ran out): this run writes nothing more. */
  leaseLost = false;

  constructor(
    readonly deps: SyncDeps,
    readonly job: SyncJob,
    private session: StripeSession,
    private readonly remainingMs: () => number,
    /** Who holds the sync lease for this run: the guard before every write checks it. */
    readonly owner = 'unknown',
  ) {
    this.startedAt = deps.clock.now().getTime();
    this.accountId = session.connection.accountId;
    this.scope = scopeOf({ ...session.connection, orgId: job.orgId });
    this.ref = refOf(job);
    // Live mode: the budget is the account's, shared with every other run calling it (another
    // org connected to the same account, the workers of one backfill).
    this.budget =
      session.connection.livemode && deps.requestShares
        ? new SharedRequestBudget(deps.config.budgetLive, deps.requestShares, this.accountId, 'live')
        : new RequestBudget(session.connection.livemode ? deps.config.budgetLive : deps.config.budgetTest);
    const observe = deps.onStripeRequest;
    if (observe) this.budget.onSend = (at) => observe(this.accountId, at);
  }

  /** The connection's item: which of the org's connections this run syncs. */
  readonly ref: ConnectionRef;
  /** The full re-sync in progress, if any: what its resources' pages show is noted as seen. */
  fullPass: FullSync | undefined;
  /**
   * The connection's checkpoints as the run found them (one read for all), each taken once by
   * its resource's turn; a resource absent here (taken, or reset since) reads its own.
   */
  startCheckpoints: Map<ResourceName, Checkpoint | undefined> | undefined;
  /** Records of the full re-sync's resources this run added and updated. */
  readonly fullCounts = { added: 0, updated: 0 };

  /** The full re-sync in progress reads this resource again (and has not finished it yet). */
  fullPassCovers(resource: string): boolean {
    const full = this.fullPass;
    return full?.resources.includes(resource) === true && !full.swept.includes(resource);
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

  private clocks: Promise<string[]> | undefined;

  /**
   * The account's test clocks (test mode; none in live mode), listed once a run: customers and
   * subscriptions on a clock are read by clock (`ResourceDef.perTestClock`). Without the
   * permission to list them, none: those objects then come only from their events.
   */
  testClocks(): Promise<string[]> {
    if (this.connection.livemode) return Promise.resolve([]);
    this.clocks ??= (async () => {
      const ids: string[] = [];
      let after: string | undefined;
      for (;;) {
        const page = await this.call((stripe) =>
          stripe.testHelpers.testClocks.list({ limit: 100, ...(after ? { starting_after: after } : {}) }),
        );
        ids.push(...page.data.map((clock) => clock.id));
        const last = page.data[page.data.length - 1];
        if (!page.has_more || !last) return ids;
        after = last.id;
      }
    })().catch((error: unknown) => {
      // Refused (a permission, or test helpers not served to this kind of access): none, so
      // customers and subscriptions still sync. A passing fault is retried by the next run.
      if (
        !(error instanceof Stripe.errors.StripePermissionError) &&
        !(error instanceof Stripe.errors.StripeInvalidRequestError)
      ) {
        this.clocks = undefined;
        throw error;
      }
      logger.warn('cannot list test clocks: objects on them come from their events only', {
        accountId: this.accountId,
        status: error.statusCode,
        code: error.code,
      });
      return [];
    });
    return this.clocks;
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
      await this.deps.store.noteAccountName(this.ref, this.job.connectionId, name);
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

  /** Stripe answered one of this run's requests: the connection's token worked. */
  tokenWorked = false;

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
        this.tokenWorked = true;
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
        .refreshAfterUnauthorized(this.ref, failedAccessToken)
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

  /**
   * Stops the run unless the connection is still this one, connected, and this run holds its
   * lease: one conditional write (no read), which also fences a run whose lease was taken over
   * before its heartbeat noticed. Only when it fails is the connection read, to say why.
   */
  async ensureCurrent(): Promise<void> {
    const { connectionId } = this.job;
    // The page's writes must finish well inside the lease: a lease that renewals no longer
    // extend lapses, and a webhook would then write beside us.
    const margin = Math.min(LEASE_MARGIN_MS, this.deps.config.leaseMs / 4);
    const until = this.deps.clock.now().getTime() + margin;
    if (await this.deps.store.holdsSyncLease(this.ref, connectionId, this.owner, until)) return;
    const current = await this.deps.store.getConnection(this.ref);
    if (current?.connectionId === connectionId && current.status === 'connected') {
      this.leaseLost = true;
      throw new ConnectionGoneError('another worker took the sync over');
    }
    throw new ConnectionGoneError(
      `the connection is ${current?.connectionId === connectionId ? current.status : 'gone'}`,
    );
  }

  /**
   * What is stored of `def` in the partition, for a backfill to write without reading first:
   * while this run holds the lease it is the partition's only writer (webhooks leave their
   * changes to it, and one that was already writing when the run began asks for another run
   * and puts the counts in doubt). Not for a resource another one carries (its objects also
   * arrive with that one's pages), nor one with lists that overlap, nor for a partition
   * already holding more than a few.
   */
  async knownVersions(def: ResourceDef): Promise<KnownVersions | undefined> {
    if (RESOURCES.some((other) => other.carries?.resource === def.name)) return undefined;
    // Its lists overlap (an archived price is in both while it changes): two slices could write
    // one object at once, each from the map as it was.
    if (def.listVariants?.length) return undefined;
    return this.deps.records.knownVersions(this.scope, def.name);
  }

  /**
   * Stores a page of objects, each with when Stripe showed it, after checking the connection
   * still exists. An invoice's or credit note's lines go first (every page of them, fetched
   * only when Stripe did not embed them all), as records of their own: a crash before the
   * object's own write leaves it older, so the next run writes both again.
   * Returns how many objects were new.
   */
  async store(def: ResourceDef, given: StoredObject[], known?: KnownVersions): Promise<number> {
    if (given.length === 0) return 0;
    if (this.leaseLost) throw new ConnectionGoneError('another worker took the sync over');
    let objects = given;
    const { carries } = def;
    if (carries) {
      // What it carries (a subscription's expanded discounts) first, as read with it; then the
      // object as Stripe shows it unexpanded. Nothing from a deletion (a deleted customer's
      // last state): what it carried ends by its own event.
      const held: StoredObject[] = [];
      objects = given.map((stored) => {
        const { object, carried } = carries.split(stored.object);
        if (!stored.deleted && !stored.observed.deletes)
          for (const one of carried)
            held.push({
              object: one,
              observed: stored.observed,
              ...(stored.apiVersion ? { apiVersion: stored.apiVersion } : {}),
            });
        return { ...stored, object };
      });
      const heldDef = resourceByName(carries.resource);
      if (heldDef && held.length > 0) await this.store(heldDef, held);
    }
    await this.ensureCurrent();
    const { orgId, mode, accountId } = this.scope;
    // No leading spread of the scope: Node 20 adds the properties after one on a slow path.
    const writes: RecordWrite[] = objects.map(({ object, observed, deleted, apiVersion }) => ({
      orgId,
      mode,
      accountId,
      resource: def.name,
      object,
      version: recordVersion(def, object, observed),
      source: 'sync',
      apiVersion: apiVersion ?? STRIPE_API_VERSION,
      ...(deleted ? { deleted } : {}),
    }));
    const full = this.fullPassCovers(def.name) ? this.fullPass : undefined;
    const lineDef = linesOf(def.name);
    if (lineDef) await this.storeLines(def, lineDef, writes, full);
    if (full)
      await this.deps.records.noteSeen(
        this.scope,
        full.id,
        def.name,
        objects.map(({ object }) => object.id),
      );
    const result = await this.deps.records.putMany(writes, this.changes, known);
    if (full) {
      this.fullCounts.added += result.created;
      this.fullCounts.updated += result.written - result.created;
    }
    // Counted at once: a run that dies between the two leaves its counts in doubt (see runSync).
    await this.deps.records.addCounts(this.scope, result.deltas);
    this.written[def.name] = (this.written[def.name] ?? 0) + result.written;
    count(MetricNames.recordsSynced, result.written);
    await this.tellChanges(false);
    return result.created;
  }

  /**
   * `Stripe Records Changed` for what this run wrote since it last said: at most once a minute
   * while it writes (`force`: now, as it ends), so Defrr can pull a long backfill as it lands.
   */
  async tellChanges(force: boolean): Promise<void> {
    const now = this.deps.clock.now();
    if (!force && now.getTime() - this.lastToldAt < 60_000) return;
    if (this.changes.first === undefined) return;
    this.lastToldAt = now.getTime();
    await tellChanges(
      this.deps.events,
      aboutConnection(this.job.orgId, { ...this.session.connection, connectionId: this.job.connectionId }),
      this.scope,
      this.changes,
      'sync',
      now,
    );
  }

  /**
   * The lines of a page of invoices or credit notes, each version newer than what is stored:
   * every line as a record at its holder's version (deleted with it), the lines the stored
   * version had and this one has not marked deleted, and the lines past the embedded page
   * kept with the holder too. Notes on each write the ids of all its lines.
   */
  private async storeLines(
    def: ResourceDef,
    lineDef: LineResourceDef,
    writes: RecordWrite[],
    full: FullSync | undefined,
  ): Promise<void> {
    const { records } = this.deps;
    const resource = lineDef.parent;
    // Of one object twice in a page, the newer.
    const newest = new Map<string, RecordWrite>();
    for (const write of writes) {
      const seen = newest.get(write.object.id);
      if (!seen || seen.version < write.version) newest.set(write.object.id, write);
    }
    const stored = await records.storedLines(this.scope, resource, [...newest.keys()]);
    const toWrite: RecordWrite[] = [];
    const dropped: Array<{ ids: string[]; version: string }> = [];
    /** Lines Stripe still has (for a full re-sync's sweep). */
    const seen: string[] = [];
    for (const write of newest.values()) {
      const before = stored.get(write.object.id);
      // What is stored is newer: its lines are the ones to keep. (An equal version may be this
      // write's own, cut short by a crash: its lines are written again, each a no-op if there.)
      if (before && before.version > write.version) {
        seen.push(...before.lineIds);
        continue;
      }
      const { data: embedded, hasMore } = embeddedLines(lineDef, write.object);
      // A deleted draft's lines are gone with it: those it embedded and those stored are marked.
      const rest = hasMore && !write.deleted ? await this.restOfLines(def, write.object.id, embedded) : [];
      if (rest === undefined) {
        // Deleted since it was listed (a draft): its deletion event follows. Until then it keeps
        // the ids of every line it may have, and its lines stay as they are.
        write.lineIds = [...new Set([...(before?.lineIds ?? []), ...embedded.map((line) => line.id)])];
        seen.push(...write.lineIds);
        continue;
      }
      const all = [...embedded, ...rest];
      write.lineIds = all.map((line) => line.id);
      toWrite.push(...lineWrites(write, lineDef.name, all));
      const gone = droppedLines(before?.lineIds ?? [], write.lineIds);
      if (gone.length > 0) dropped.push({ ids: gone, version: write.version });
      // The object's own copy of its lines past the embedded page (the oracle compares it).
      if (rest.length > 0) await records.putLines(this.scope, resource, write.object.id, write.version, rest);
      // Pages an older version left (it had more lines than this one embeds; a draft stored
      // before line ids were kept may have some too) are not this version's.
      else if (write.object.status === 'draft' || (before?.lineIds.length ?? 0) > embedded.length)
        await records.deleteLinePages(this.scope, resource, write.object.id, write.version);
    }
    if (full)
      await records.noteSeen(this.scope, full.id, lineDef.name, [
        ...seen,
        ...toWrite.map((w) => w.object.id),
      ]);
    const result = await records.putMany(toWrite, this.changes);
    if (full) {
      this.fullCounts.added += result.created;
      this.fullCounts.updated += result.written - result.created;
    }
    let removed = 0;
    for (const { ids, version } of dropped)
      removed -= await records.markLinesDeleted(this.scope, lineDef.name, ids, version, this.changes);
    await records.addCounts(this.scope, { [lineDef.name]: (result.deltas[lineDef.name] ?? 0) - removed });
    this.written[lineDef.name] = (this.written[lineDef.name] ?? 0) + result.written + removed;
  }

  /**
   * An invoice's or credit note's lines past the embedded page: every page of its `/lines`
   * list; undefined when Stripe no longer has the object (404).
   */
  private async restOfLines(
    def: ResourceDef,
    id: string,
    embedded: StripeObject[],
  ): Promise<StripeObject[] | undefined> {
    const listLines = def.listLines;
    if (!listLines) return [];
    const rest: StripeObject[] = [];
    let after = embedded[embedded.length - 1]?.id;
    for (;;) {
      let page: Stripe.ApiList<StripeObject>;
      try {
        page = await this.call((stripe) =>
          listLines(stripe, id, { limit: 100, ...(after ? { starting_after: after } : {}) }),
        );
      } catch (error) {
        if (error instanceof Stripe.errors.StripeInvalidRequestError && error.statusCode === 404)
          return undefined;
        throw error;
      }
      rest.push(...page.data);
      if (!page.has_more || page.data.length === 0) return rest;
      after = page.data[page.data.length - 1]?.id;
    }
  }

  /** Progress for the status page, at most once a second. */
  async progress(resource: string, records: number): Promise<void> {
    const now = Date.now();
    if (now - this.lastProgressAt < 1000) return;
    this.lastProgressAt = now;
    await this.deps.store.updateSync(this.ref, this.job.connectionId, {
      progress: { resource, records },
    });
  }

  /**
   * Asks the sync queue for `workers` helpers on a shared-out backfill: each works on its parts
   * under this run's lease (`helpBackfill`). Best effort: parts no helper takes, this run does.
   */
  async askForHelp(resource: string, plan: string, workers: number): Promise<void> {
    if (workers < 1) return;
    const help: SyncJob = {
      ...this.ref,
      connectionId: this.job.connectionId,
      reason: 'help',
      help: { resource, plan, owner: this.owner },
    };
    await this.deps.syncQueue.sendBatch(Array.from({ length: workers }, () => help)).catch((error: unknown) =>
      logger.warn('could not ask for helpers: this run reads the parts itself', {
        error: describeError(error),
      }),
    );
  }

  async saveCheckpoint(checkpoint: Checkpoint): Promise<void> {
    checkpoint.updatedAt = this.deps.clock.now().toISOString();
    await this.deps.checkpoints.put(checkpoint);
  }
}
