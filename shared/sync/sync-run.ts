import { randomUUID } from 'node:crypto';
import Stripe from 'stripe';
import { deleteOrphanedSecrets } from '../connect/end-connection.js';
import {
  type Connection,
  type FullSync,
  publicConnectionId,
  refOf,
  type SyncError,
} from '../domain/connection.js';
import type { SyncJob } from '../domain/sync-job.js';
import { describeError } from '../http/handler.js';
import { logger } from '../logger.js';
import { count, MetricNames, MetricUnit, metrics } from '../metrics.js';
import type { ConnectionStore } from '../ports/connection-store.js';
import { scopeOf } from '../ports/records-store.js';
import { StripeUnavailableError } from '../ports/stripe-token-client.js';
import type { SyncRunRecord } from '../ports/sync-history.js';
import {
  LINE_RESOURCES,
  linesOf,
  RESOURCES,
  type ResourceDef,
  recordVersion,
  resourceByName,
} from '../records/registry.js';
import { ConnectionUnavailableError } from '../stripe/stripe-access.js';
import { Backfill, lackedByBackfill } from './backfill.js';
import type { Checkpoint } from './checkpoint.js';
import { dueIn, QUEUED_SYNC_DUE_MS } from './dispatch.js';
import { incremental } from './incremental.js';
import { ConnectionGoneError, type SyncDeps, type SyncOutcome, SyncRun } from './run-context.js';
import { retryReason } from './stripe-calls.js';

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
  if (job.reason === 'help') return helpBackfill(deps, job, remainingMs);
  const report: RunReport = { errors: [] };
  const startedAt = deps.clock.now();
  let outcome: SyncOutcome | undefined;
  try {
    outcome = await syncOnce(deps, job, remainingMs, report);
    return outcome;
  } finally {
    // What it wrote is told however it ended (a completed run told it before `Sync Completed`).
    await report.run?.tellChanges(true);
    await tellDefrr(deps, job, report, outcome);
    // A run that held the lease leaves its record, however it ended (a throw: it failed).
    // (A partial run that throws for its retry is still partial: the others are up to date.)
    const ended = outcome?.outcome ?? (report.partial ? 'partial' : 'failed');
    if (report.owner && ended !== 'skipped' && ended !== 'deferred' && ended !== 'helped') {
      const finishedAt = deps.clock.now();
      await deps.store
        .recordRun(refOf(job), {
          runId: report.owner,
          connectionId: job.connectionId,
          trigger: job.reason,
          startedAt: startedAt.toISOString(),
          finishedAt: finishedAt.toISOString(),
          durationMs: finishedAt.getTime() - startedAt.getTime(),
          outcome: ended,
          requests: report.run?.requests ?? 0,
          written: { ...(report.run?.written ?? {}) },
          errors: report.errors,
        })
        .catch((error: unknown) =>
          logger.warn('could not record the sync run in its history', { error: describeError(error) }),
        );
    }
  }
}

/** What a run tells its history record as it goes. */
interface RunReport {
  owner?: string;
  /** The connection as the lease read it. */
  connection?: Connection;
  run?: SyncRun;
  /** Some resources failed, the others are up to date. */
  partial?: boolean;
  errors: SyncRunRecord['errors'];
}

/**
 * The events of a run that did not complete (`Stripe Sync Completed` is published by the
 * run itself, before it returns): `Stripe Sync Failed` with what a person can act on, and
 * `Stripe Connection Needs Reauth`. Best effort: the run's own state is already recorded.
 */
async function tellDefrr(deps: SyncDeps, job: SyncJob, report: RunReport, outcome: SyncOutcome | undefined) {
  const connection = report.connection;
  if (!connection) return;
  const about = {
    orgId: job.orgId,
    connection: publicConnectionId(connection),
    accountId: connection.accountId,
    connectionId: job.connectionId,
    livemode: connection.livemode,
  };
  const at = deps.clock.now().toISOString();
  const publish = (type: string, detail: Record<string, unknown>) =>
    deps.events
      .publish(type, detail)
      .catch((error: unknown) =>
        logger.warn('could not publish an event', { type, error: describeError(error) }),
      );
  if (outcome?.outcome === 'stopped' && outcome.reason === 'needs_reauth') {
    await publish('Stripe Connection Needs Reauth', {
      ...about,
      message: 'Stripe no longer accepts this connection: reconnect Stripe to resume syncing.',
      at,
    });
    return;
  }
  const failed = outcome === undefined || outcome.outcome === 'partial';
  if (!failed || report.errors.length === 0) return;
  await publish('Stripe Sync Failed', {
    ...about,
    reason: job.reason,
    outcome: report.partial ? 'partial' : 'failed',
    // Thrown: the queue delivers the job again.
    retrying: outcome === undefined,
    errors: report.errors,
    at,
  });
}

async function syncOnce(
  deps: SyncDeps,
  job: SyncJob,
  remainingMs: () => number,
  report: RunReport,
): Promise<SyncOutcome> {
  const { store, clock, config } = deps;
  const owner = `sync-${randomUUID()}`;
  const ref = refOf(job);
  const now = clock.now().getTime();
  const lease = await store.acquireSyncLease(ref, job.connectionId, owner, now, now + config.leaseMs);
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
  report.owner = owner;
  report.connection = lease.connection;
  logger.appendKeys({ orgId: job.orgId, syncRun: owner, accountId: lease.connection.accountId });
  const scope = scopeOf({ ...lease.connection, orgId: job.orgId });
  let continuing = false;
  const release = async (
    sync: Parameters<ConnectionStore['releaseSyncLease']>[2],
    dueAt?: string,
    options?: { countsInDoubt?: boolean },
  ) => {
    if (sync.lastError) report.errors.push({ ...sync.lastError });
    for (const [resource, error] of Object.entries(sync.resourceErrors ?? {}))
      report.errors.push({ resource, ...error });
    const released = await store.releaseSyncLease(ref, owner, sync, dueAt, options);
    // Webhooks left their changes to this run while it held the lease: another run reads them
    // from /v1/events (a run that continues reads them anyway).
    if (released.syncAgain && !continuing) {
      await deps.syncQueue.send({ ...ref, connectionId: job.connectionId, reason: 'webhook' });
      logger.info('webhooks arrived during the run: another sync is queued to apply them');
    }
  };
  // Stripe took the token this run: an uninstall noted (when the lease was taken) as maybe this
  // install's was the one before it. Best effort: a note left is cleared by the next run.
  const tokenProven = async () => {
    const noted = lease.connection.uninstallInDoubt;
    if (!noted || !report.run?.tokenWorked) return;
    await store
      .clearUninstallInDoubt(ref, job.connectionId, noted)
      .catch((error: unknown) =>
        logger.warn('could not clear a noted uninstall; a later run does', { error: describeError(error) }),
      );
  };
  const storedCounts = async () => (await deps.records.counts(scope)) ?? {};
  const errorAt = () => clock.now().toISOString();

  let run: SyncRun | undefined;
  // The lease lives while this run does: a worker that dies stops renewing it, and the sweep
  // hands the sync to another within about `leaseMs`.
  const heartbeat = setInterval(() => {
    store
      .renewSyncLease(ref, owner, clock.now().getTime() + config.leaseMs)
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
    // The connection as the lease read it: one read of it per run before the first page.
    const session = await deps.access.forConnection(lease.connection);
    if (session.connection.connectionId !== job.connectionId) {
      await release({ state: 'idle', progress: null });
      return { outcome: 'skipped', reason: 'replaced' };
    }
    run = new SyncRun(deps, job, session, remainingMs, owner);
    report.run = run;
    const named = run.noteAccountName();
    // The counts are the records stored. Kept as each write changes them, they are counted
    // afresh when that may have failed (a run or webhook that died between a write and its
    // count: an abandoned lease, a sweep's takeover, a doubt a writer left), and by the first
    // run of every connection (a reconnect, or records written before counts were kept).
    // Records older code kept with both modes in one partition move to their own mode's.
    // Records whose mode cannot be told are kept aside: their resources are read again.
    const migrated = await deps.records.migrateLegacyPartition(
      scope.orgId,
      scope.accountId,
      scope.mode,
      () => (run ? run.shouldStop() : false),
      async (resources) => {
        // A line's records are read again with the objects that hold them.
        for (const resource of new Set(
          resources.map((r) => LINE_RESOURCES.find((l) => l.name === r)?.parent ?? r),
        ))
          await deps.checkpoints.reset(ref, resource);
      },
    );
    if (migrated.moved > 0 || migrated.unplaced.length > 0)
      logger.info('moved records into their mode’s partition', migrated);
    // Records stored before the change feed get their places in it (once per partition).
    const seeded = migrated.done
      ? await deps.records.seedFeed(scope, () => (run ? run.shouldStop() : false))
      : { seeded: 0, done: false };
    if (seeded.seeded > 0)
      logger.info('gave records stored before the change feed their places in it', seeded);
    if (!migrated.done || !seeded.done) {
      // A large move (or seeding) runs out of time: it goes on in the next run, before any sync.
      continuing = true;
      await release(
        { state: 'queued', queuedAt: clock.now().toISOString() },
        dueIn(clock.now(), QUEUED_SYNC_DUE_MS),
      );
      await deps.syncQueue.send({ ...ref, connectionId: job.connectionId, reason: 'continue' });
      logger.info('moving records into their mode’s partition continues in the next run');
      return { outcome: 'continued', requests: run.requests };
    }
    const state = await deps.records.countsState(scope);
    const doubt = lease.connection.countsInDoubt;
    if (lease.abandoned || doubt || state?.doubt || state?.countedFor !== job.connectionId) {
      await deps.records.recountAll(scope);
      await deps.records.countsSettled(scope, job.connectionId, state?.doubt);
      if (doubt) await store.clearCountsInDoubt(ref, doubt);
      logger.info('counted the stored records afresh', {
        abandoned: lease.abandoned,
        doubt: Boolean(doubt || state?.doubt),
        firstForConnection: state?.countedFor !== job.connectionId,
      });
    }
    run.fullPass = await startFullPass(run, lease.connection.fullSync ?? undefined);
    const found = await deps.checkpoints.all(ref);
    run.startCheckpoints = new Map(RESOURCES.map((def) => [def.name, found.get(def.name)]));
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
          .finally(() => {
            active.delete(task);
            current.resourcesRunning = Math.max(1, active.size);
          });
        active.add(task);
        current.resourcesRunning = active.size;
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
    if (run.fullPass) await finishFullPass(run, new Set(failedResources.keys()));
    const resourceErrors = Object.fromEntries(
      [...failedResources].map(([name, error]) => [name, resourceError(name, error, errorAt())]),
    );
    Object.assign(counts, await storedCounts());
    if (run.shouldStop()) {
      // The lease first: a continuation received before it was released would find it held
      // and be dropped. (If the send fails, the sweep queues it when it falls due.)
      continuing = true;
      await release(
        { state: 'queued', queuedAt: clock.now().toISOString(), counts },
        dueIn(clock.now(), QUEUED_SYNC_DUE_MS),
      );
      await deps.syncQueue.send({ ...ref, connectionId: job.connectionId, reason: 'continue' });
      await tokenProven();
      logger.info('sync paused near the deadline and re-queued', { requests: run.requests });
      return { outcome: 'continued', requests: run.requests };
    }
    if (failedResources.size > 0) {
      report.partial = true;
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
      await tokenProven();
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
    await tokenProven();
    metrics.addMetric(
      MetricNames.syncDuration,
      MetricUnit.Milliseconds,
      finishedAt.getTime() - run.startedAt,
    );
    await run.tellChanges(true);
    await deps.events.publish('Stripe Sync Completed', {
      orgId: job.orgId,
      /** Which of the org's connections (`<mode>_<account>`, as the API names it). */
      connection: publicConnectionId(run.connection),
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
    await release({
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
    });
    // A fault of our own (DynamoDB, say) may have come between a write and its count.
    if (code === 'internal')
      await deps.records.markCountsInDoubt(scope).catch(() => store.noteCountsInDoubt(ref, job.connectionId));
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

/**
 * A full re-sync asked for (`pending`) begins, its time kept (what is written from then on is
 * Stripe's); one under way (`running`) goes on. Its resources are read again from the start:
 * a checkpoint counts for them only once their backfill in this pass made it (`passId`), so
 * no reset is needed, and a late write of an older checkpoint cannot skip the backfill.
 */
async function startFullPass(run: SyncRun, full: FullSync | undefined): Promise<FullSync | undefined> {
  if (!full || full.state === 'done') return undefined;
  if (full.state === 'running') return full;
  const { store, clock } = run.deps;
  const startedAt = clock.now().toISOString();
  if (!(await store.updateFullSync(run.ref, run.job.connectionId, full.id, { state: 'running', startedAt })))
    return undefined;
  logger.info('full re-sync started', { resources: full.resources });
  return { ...full, state: 'running', startedAt };
}

/**
 * Keeps the full re-sync's counts, and once a resource's reading is done (its checkpoint
 * moved on to events), marks deleted what the pass did not see and nobody wrote since it
 * began (Stripe no longer has it) and counts the resource's records afresh. Done when every
 * resource is; resumable where it stopped.
 */
async function finishFullPass(run: SyncRun, failed: Set<string>): Promise<void> {
  const full = run.fullPass as FullSync;
  const { store, checkpoints, records, clock } = run.deps;
  const swept = [...full.swept];
  let after = full.sweepAfter ?? undefined;
  let deleted = full.deleted;
  const save = (patch: Partial<FullSync>) =>
    store.updateFullSync(run.ref, run.job.connectionId, full.id, {
      added: full.added + run.fullCounts.added,
      updated: full.updated + run.fullCounts.updated,
      deleted,
      swept,
      sweepAfter: after ?? null,
      ...patch,
    });
  // Each resource, then the lines its objects hold (a deleted invoice's too).
  const steps = full.resources.flatMap((resource) => {
    const lineDef = linesOf(resource);
    return lineDef ? [resource, lineDef.name] : [resource];
  });
  for (const step of steps) {
    const lineDef = LINE_RESOURCES.find((d) => d.name === step);
    const def = resourceByName(lineDef ? lineDef.parent : step);
    if (!def || swept.includes(step) || failed.has(def.name) || run.shouldStop()) continue;
    // Lines only once what holds them is swept.
    if (lineDef && !swept.includes(def.name)) continue;
    // Read again in full, but absence from its list does not mean deletion: nothing to mark.
    if (def.sweepable === false) {
      swept.push(step);
      continue;
    }
    const checkpoint = await checkpoints.get(run.ref, def.name);
    // Read to the end in this pass (its own backfill made the checkpoint), else not yet.
    if (
      checkpoint?.phase !== 'incremental' ||
      checkpoint.connectionId !== run.job.connectionId ||
      checkpoint.passId !== full.id
    )
      continue;
    await run.ensureCurrent();
    const at = await run.stripeNow();
    const name = lineDef ? lineDef.name : def.name;
    const result = await records.markUnseenDeleted(
      run.scope,
      full.id,
      name,
      full.startedAt ?? clock.now().toISOString(),
      (object) => recordVersion(def, object, { at, by: 'event' }),
      {
        after,
        shouldStop: () => run.shouldStop(),
        tally: run.changes,
        // Lines are listed in full with their holder; only a listed resource leaves some out.
        ...(!lineDef && def.unlisted ? { keep: def.unlisted } : {}),
      },
    );
    deleted += result.deleted;
    if (result.deleted > 0) {
      run.written[name] = (run.written[name] ?? 0) + result.deleted;
      logger.info('marked deleted what Stripe no longer returns', {
        resource: name,
        deleted: result.deleted,
      });
    }
    after = result.after;
    if (!result.done) break;
    // What is stored of it now is exactly what Stripe has: its count is counted afresh.
    await records.recount(run.scope, name);
    swept.push(step);
    after = undefined;
  }
  const done = steps.every((step) => swept.includes(step));
  await save(done ? { state: 'done', finishedAt: clock.now().toISOString() } : {});
  if (done) logger.info('full re-sync done', { resources: full.resources, deleted });
}

/**
 * A helper of a shared-out backfill (`SyncJob.help`): works on its parts under the lease of the
 * run that asked, while that run holds it (every store checks, as the run's own do), until none
 * is left to claim or its time runs out. It records no run of its own: its requests and
 * writes are the asking run's backfill's. What goes wrong ends the help, never the backfill:
 * the part is given up for another worker (the asking run reads what no one else does).
 */
export async function helpBackfill(
  deps: SyncDeps,
  job: SyncJob,
  remainingMs: () => number,
): Promise<SyncOutcome> {
  const { help } = job;
  const def = help ? resourceByName(help.resource) : undefined;
  if (!help || !def) throw new Error('a help job names no resource of the registry');
  const ref = refOf(job);
  const now = deps.clock.now().getTime();
  if (!(await deps.store.holdsSyncLease(ref, job.connectionId, help.owner, now + 30_000))) {
    logger.info('the run that asked for help has ended: nothing to help with', { orgId: job.orgId });
    return { outcome: 'skipped', reason: 'held' };
  }
  const connection = await deps.store.getConnection(ref);
  if (!connection || connection.connectionId !== job.connectionId)
    return { outcome: 'skipped', reason: 'gone' };
  const session = await deps.access.forConnection(connection);
  const run = new SyncRun(deps, job, session, remainingMs, help.owner);
  logger.appendKeys({ orgId: job.orgId, syncRun: help.owner, accountId: connection.accountId });
  const by = `help-${randomUUID()}`;
  let parts = 0;
  try {
    parts = await Backfill.workParts(run, def, help.plan, by);
  } catch (error) {
    logger.warn('a helper of a shared-out backfill stopped; its part is given up', {
      resource: def.name,
      error: describeError(error),
    });
  } finally {
    await run.tellChanges(true).catch(() => undefined);
  }
  return { outcome: 'helped', parts, requests: run.requests };
}

/** Backfill when there is no usable checkpoint, then read what changed since. */
async function syncResource(run: SyncRun, def: ResourceDef): Promise<Checkpoint> {
  const { checkpoints, config } = run.deps;
  const start = run.startCheckpoints;
  let checkpoint = start?.has(def.name)
    ? start.get(def.name)
    : await checkpoints.get(refOf(run.job), def.name);
  start?.delete(def.name);
  if (checkpoint && checkpoint.connectionId !== run.job.connectionId) checkpoint = undefined;
  // A full re-sync reads the resource again: only a checkpoint its own backfill made counts.
  if (checkpoint && run.fullPassCovers(def.name) && checkpoint.passId !== run.fullPass?.id)
    checkpoint = undefined;
  // A checkpoint older code made, whose backfill lacked what today's does: the resource again.
  const lacking = checkpoint && lackedByBackfill(def, checkpoint);
  if (lacking) {
    logger.info(`${lacking} when this resource was backfilled: backfilling again`, { resource: def.name });
    checkpoint = undefined;
  }
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
    // Events of a resource Stripe cannot list are gone: what carries its objects is read again
    // (those resources come after it in the registry, so in this run).
    if (def.derived)
      for (const carrier of RESOURCES.filter((r) => r.carries?.resource === def.name)) {
        run.startCheckpoints?.delete(carrier.name);
        await checkpoints.reset(refOf(run.job), carrier.name);
      }
    const fresh = await Backfill.start(run, def);
    await new Backfill(run, def, fresh).run();
    if (fresh.phase === 'incremental') await incremental(run, def, fresh);
    return fresh;
  }
  return checkpoint;
}

export {
  ConnectionGoneError,
  DEFAULT_SYNC_CONFIG,
  type StoredObject,
  type SyncConfig,
  type SyncDeps,
  type SyncOutcome,
  SyncRun,
} from './run-context.js';
