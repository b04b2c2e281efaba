import { endConnection } from '../connect/end-connection.js';
import { type AccountLink, refOf } from '../domain/connection.js';
import type { SyncJob } from '../domain/sync-job.js';
import { aboutConnection, tellChanges } from '../events/publish.js';
import { describeError } from '../http/handler.js';
import { logger } from '../logger.js';
import { count, MetricNames } from '../metrics.js';
import type { Clock } from '../ports/clock.js';
import type { ConnectionStore } from '../ports/connection-store.js';
import type { EventLedger } from '../ports/event-ledger.js';
import type { EventPublisher } from '../ports/event-publisher.js';
import type { JobQueue } from '../ports/job-queue.js';
import {
  type ChangeTally,
  droppedLines,
  lineWrites,
  newTally,
  type PutResult,
  type RecordsStore,
  type RecordWrite,
  scopeOf,
} from '../ports/records-store.js';
import type { TokenVault } from '../ports/token-vault.js';
import {
  deletesObject,
  embeddedLines,
  hasMoreLines,
  type LineResourceDef,
  linesOf,
  type Observation,
  type ResourceDef,
  recordVersion,
  resourceForEvent,
  resourcesTouchedBy,
  type StripeObject,
} from '../records/registry.js';
import { STRIPE_API_VERSION } from '../stripe/api-version.js';
import type { WebhookEvent, WebhookMessage } from './intake.js';

export interface ProcessDeps {
  store: ConnectionStore;
  vault: TokenVault;
  records: RecordsStore;
  ledger: EventLedger;
  clock: Clock;
  /**
   * An event too large for the queue arrives as a reference: the connections
   * it concerns get a sync, whose incremental pass reads it from /v1/events.
   */
  syncQueue: JobQueue<SyncJob>;
  /** `Stripe Records Changed` after each write, `Stripe Connection Revoked` on an uninstall. */
  events: EventPublisher;
}

export type ProcessOutcome = 'processed' | 'duplicate' | 'dropped' | 'ignored';

/**
 * One queued webhook event, exactly once: the ledger claims it, the handling
 * is idempotent anyway (revocation, version-guarded upserts), and a failure
 * releases the claim so the queue's retry can process it.
 */
export async function processWebhookMessage(
  deps: ProcessDeps,
  message: WebhookMessage,
): Promise<ProcessOutcome> {
  const id = message.kind === 'event' ? message.event.id : message.ref.id;
  logger.appendKeys({ eventId: id });
  const claim = await deps.ledger.begin(id);
  if (claim === 'done') {
    count(MetricNames.webhookDuplicates);
    return 'duplicate';
  }
  if (claim === 'busy') throw new Error(`event ${id} is being processed by another worker`);
  try {
    const outcome =
      message.kind === 'event'
        ? await handle(deps, message.event, claim === 'retry')
        : await syncForReference(deps, message.ref);
    await deps.ledger.complete(id);
    count(outcome === 'processed' ? MetricNames.webhookProcessed : MetricNames.webhookDropped);
    return outcome;
  } catch (error) {
    await deps.ledger
      .release(id)
      .catch((e: unknown) => logger.warn('could not release a ledger claim', { error: describeError(e) }));
    throw error;
  }
}

async function syncForReference(
  deps: ProcessDeps,
  ref: Extract<WebhookMessage, { kind: 'ref' }>['ref'],
): Promise<ProcessOutcome> {
  if (!ref.account) return 'dropped';
  let queued = 0;
  for (const link of (await deps.store.accountLinks(ref.account)).filter(
    (l) => l.livemode === ref.livemode,
  )) {
    const connection = await deps.store.getConnection(refOf(link));
    if (connection?.connectionId !== link.connectionId || connection.status !== 'connected') continue;
    await deps.syncQueue.send({ ...refOf(link), connectionId: link.connectionId, reason: 'webhook' });
    queued++;
  }
  logger.info('an event too large to queue: synced through /v1/events instead', { type: ref.type, queued });
  return queued > 0 ? 'processed' : 'dropped';
}

async function handle(deps: ProcessDeps, event: WebhookEvent, retry: boolean): Promise<ProcessOutcome> {
  const accountId = event.account;
  if (!accountId) {
    logger.info('event without an account: not from an installed account', { type: event.type });
    return 'dropped';
  }
  const links = await deps.store.accountLinks(accountId);
  // Test-mode events can reach live endpoints: a link only answers to its own mode.
  const matching = links.filter((link) => link.livemode === event.livemode);
  if (matching.length === 0) {
    logger.info('event for an account with no connection in its mode', {
      type: event.type,
      accountId,
      linked: links.length,
    });
    return 'dropped';
  }

  if (event.type === 'account.application.deauthorized') {
    for (const link of matching) await uninstalled(deps, link, event);
    return 'processed';
  }
  if (event.type === 'account.application.authorized') {
    for (const link of matching) {
      await deps.store.noteAppEvent(refOf(link), link.connectionId, {
        type: event.type,
        id: event.id,
        at: new Date(event.created * 1000).toISOString(),
      });
    }
    return 'processed';
  }

  const object = event.data.object as StripeObject;
  // The event changed other objects with no event of their own (a dispute, its charge): the sync's
  // incremental pass reads it from /v1/events and those objects again.
  const touches = resourcesTouchedBy(event.type);
  if (touches.length > 0) {
    for (const link of matching) {
      const connection = await deps.store.getConnection(refOf(link));
      if (connection?.connectionId === link.connectionId && connection.status === 'connected')
        await askForSync(deps, link, connection);
    }
    logger.info('an event that changes other objects silently: a sync reads them again', {
      type: event.type,
      resources: touches.map((d) => d.name),
    });
  }
  const def = resourceForEvent(event.type, object);
  if (!def || typeof object.id !== 'string') return touches.length > 0 ? 'processed' : 'ignored';
  let written = 0;
  let deferred = 0;
  let skipped = 0;
  for (const link of matching) {
    const outcome = await applyToConnection(deps, link, event, def, object, retry);
    if (outcome === 'written') written++;
    if (outcome === 'deferred') deferred++;
    if (outcome === 'skipped') skipped++;
  }
  logger.debug('webhook object handled', { type: event.type, resource: def.name, written, deferred });
  // Every link was to a connection not in use (one that needs the user again keeps its link).
  return skipped === matching.length && touches.length === 0 ? 'dropped' : 'processed';
}

/**
 * A sync of the connection: the running one is asked to sync again when it ends (it holds the
 * lease), else one is queued.
 */
async function askForSync(
  deps: ProcessDeps,
  link: AccountLink,
  connection: { syncLeaseUntil?: number | null },
): Promise<void> {
  const now = deps.clock.now().getTime();
  if (
    (connection.syncLeaseUntil ?? 0) >= now &&
    (await deps.store.requestSyncAgain(refOf(link), link.connectionId, now))
  )
    return;
  await deps.syncQueue.send({ ...refOf(link), connectionId: link.connectionId, reason: 'webhook' });
}

/**
 * The app was uninstalled from the link's account. Stripe retries a delivery for days and in no set
 * order, so the uninstall may be from before the user installed the app again: one clearly older
 * than this connection's grant leaves it alone, one clearly newer ends it as revoked, and one within
 * the clocks' allowance of the grant is noted on the connection for the sync it asks for. Stripe
 * kills an uninstalled app's tokens, so that run tells: a refresh Stripe refuses ends the connection
 * as revoked (not as needs_reauth; StripeAccess), a run Stripe answered clears the note. A connection
 * already needs_reauth (its token dead) is revoked here.
 */
async function uninstalled(deps: ProcessDeps, link: AccountLink, event: WebhookEvent): Promise<void> {
  const accountId = link.accountId;
  const uninstalledAt = new Date(event.created * 1000).toISOString();
  for (let attempt = 0; attempt < 3; attempt++) {
    const connection = await deps.store.getConnection(refOf(link));
    const current = connection?.connectionId === link.connectionId ? connection : undefined;
    const when = current ? whenUninstalled(event, current) : 'after';
    if (current && when === 'before') {
      logger.warn('an uninstall from before this connection was made: the connection stays', {
        orgId: link.orgId,
        accountId,
        uninstalledAt,
        authorizedAt: current.authorizedAt ?? current.connectedAt,
      });
      // Were the clocks further apart than allowed, a sync would find the token dead (needs_reauth).
      if (current.status === 'connected') await askForSync(deps, link, current);
      return;
    }
    if (current && when === 'in_doubt' && current.status === 'connected') {
      // Only while connected: a connection whose token already proved dead is revoked below.
      if (!(await deps.store.noteUninstallInDoubt(refOf(link), link.connectionId, uninstalledAt))) continue;
      logger.warn('an uninstall within a minute of this connection: the next sync tells whose it was', {
        orgId: link.orgId,
        accountId,
        uninstalledAt,
        authorizedAt: current.authorizedAt ?? current.connectedAt,
      });
      await askForSync(deps, link, current);
      return;
    }
    const ended = await endConnection(deps, refOf(link), 'revoked', 'deauthorized', link.connectionId);
    if (ended) {
      count(MetricNames.connectionsRevoked);
      logger.warn('the app was uninstalled in Stripe: connection revoked', { orgId: link.orgId, accountId });
    }
    return;
  }
  throw new Error(`the connection of ${link.orgId} kept changing while an uninstall was applied`);
}

/** How far Stripe's clock and ours may disagree (the sync's tests allow a minute either way). */
export const CLOCK_SKEW_MS = 60_000;

/**
 * Whether the uninstall happened before Stripe granted this connection's install, after it, or
 * within the clocks' skew of it (either). Its `created` is Stripe's clock in whole seconds (up to
 * 1 s early); `authorizedAt` is ours, at the code exchange (`connectedAt` for connections made
 * before it was kept). Not `connectedAt`: the user may confirm minutes after installing, and an
 * uninstall in between is this install's.
 */
export function whenUninstalled(
  event: { created: number },
  connection: { connectedAt: string; authorizedAt?: string | undefined },
): 'before' | 'in_doubt' | 'after' {
  const granted = Date.parse(connection.authorizedAt ?? connection.connectedAt);
  if ((event.created + 1) * 1000 + CLOCK_SKEW_MS < granted) return 'before';
  if (event.created * 1000 - CLOCK_SKEW_MS > granted) return 'after';
  return 'in_doubt';
}

/**
 * One connection's copy of the event's object. The connection's records have one writer at a
 * time: while a sync run holds the lease, the change is left to it (it syncs again when it ends,
 * reading this event from /v1/events), so its batch writes never overwrite a newer webhook write.
 * A run that began while this write was under way (the lease epoch moved) is asked the same.
 */
async function applyToConnection(
  deps: ProcessDeps,
  link: AccountLink,
  event: WebhookEvent,
  def: ResourceDef,
  object: StripeObject,
  retry: boolean,
): Promise<'written' | 'stale' | 'deferred' | 'skipped'> {
  const { store } = deps;
  const scope = scopeOf(link);
  // An earlier attempt at this event may have written without counting (it died in between),
  // whatever this attempt does: the doubt goes with the partition's counts.
  if (retry) await deps.records.markCountsInDoubt(scope);
  const connection = await store.getConnection(refOf(link));
  if (!connection || connection.connectionId !== link.connectionId || connection.status !== 'connected')
    return 'skipped';
  const leaseHeld = () => (connection.syncLeaseUntil ?? 0) >= deps.clock.now().getTime();
  const leaveToSync = () => askForSync(deps, link, connection);
  // Rendered at another API version than the one the service stores (the endpoint's version is
  // not the pinned one): the sync reads the object again at the pinned version.
  const deletes = deletesObject(def, event.type);
  // (A discount cannot be read again: it is kept as its event shows it, as the sync keeps it.)
  if (event.api_version !== STRIPE_API_VERSION && !deletes && !def.derived) {
    count(MetricNames.webhookOtherApiVersion);
    logger.warn(
      'webhook rendered at another API version: left to the sync, which reads it at the pinned one',
      {
        apiVersion: event.api_version,
        pinned: STRIPE_API_VERSION,
      },
    );
    await leaveToSync();
    return 'deferred';
  }
  if (
    leaseHeld() &&
    (await store.requestSyncAgain(refOf(link), link.connectionId, deps.clock.now().getTime()))
  )
    return 'deferred';
  const write: RecordWrite = {
    ...scope,
    resource: def.name,
    object,
    version: recordVersion(def, object, observedBy(def, event)),
    source: 'webhook',
    deleted: deletes,
    eventId: event.id,
    apiVersion: event.api_version ?? STRIPE_API_VERSION,
  };
  const lineDef = linesOf(def.name);
  const tally = newTally();
  const result = lineDef
    ? await putWithLines(deps.records, write, lineDef, tally)
    : await deps.records.put(write, tally);
  if (result.delta !== 0) await deps.records.addCounts(scope, { [def.name]: result.delta });
  await tellChanges(
    deps.events,
    aboutConnection(link.orgId, link),
    scope,
    tally,
    'webhook',
    deps.clock.now(),
  );

  const after = await store.getConnection(refOf(link));
  const runBegan = (after?.syncLeaseEpoch ?? 0) !== (connection.syncLeaseEpoch ?? 0);
  // A run that began meanwhile may be counting the partition afresh: this write's count may
  // fall before or after that count.
  if (runBegan && result.delta !== 0) await deps.records.markCountsInDoubt(scope);
  // Stored as of the same second as this event, from another event or a read (Stripe's
  // timestamps cannot order them): the sync's ordered read of /v1/events can.
  const second = (version: string) => version.split(':').slice(0, 3).join(':');
  const tie =
    result.outcome === 'stale' &&
    result.stored !== undefined &&
    second(result.stored.version) === second(recordVersion(def, object, observedBy(def, event))) &&
    result.stored.eventId !== event.id;
  // An event embeds an invoice's or credit note's first lines only; the rest come from its
  // /lines list, which the sync reads when it applies this same event from /v1/events.
  const lines = result.outcome === 'written' && hasMoreLines(object, def.name);
  if (runBegan || tie || lines) {
    const asked =
      runBegan && (await store.requestSyncAgain(refOf(link), link.connectionId, deps.clock.now().getTime()));
    if (!asked)
      await deps.syncQueue.send({ ...refOf(link), connectionId: link.connectionId, reason: 'webhook' });
  }
  return result.outcome;
}

/**
 * An invoice or credit note from an event, with its lines as records of their own. When the
 * event embeds them all: each line first, at the object's version (a crash before the object's
 * own write leaves it older, and the retry writes both again); the lines the stored version had
 * and this one has not, marked deleted; then the object. Should a newer version win the race to
 * the object, the lines it does not have are marked deleted as of it. When the event embeds
 * only a first page, the object keeps the ids of its stored lines beside these, and the sync
 * (which this event sends for) writes the lines once it has read them all.
 */
async function putWithLines(
  records: RecordsStore,
  write: RecordWrite,
  lineDef: LineResourceDef,
  tally: ChangeTally,
): Promise<PutResult> {
  const id = write.object.id;
  const before = (await records.storedLines(write, lineDef.parent, [id])).get(id);
  const { data: embedded, hasMore } = embeddedLines(lineDef, write.object);
  const ids = embedded.map((line) => line.id);
  if (hasMore || (before && before.version > write.version)) {
    return records.put({ ...write, lineIds: [...new Set([...(before?.lineIds ?? []), ...ids])] }, tally);
  }
  let delta = 0;
  for (const line of lineWrites(write, lineDef.name, embedded))
    delta += (await records.put(line, tally)).delta;
  const gone = droppedLines(before?.lineIds ?? [], ids);
  if (gone.length > 0)
    delta += await records.markLinesDeleted(write, lineDef.name, gone, write.version, tally);
  const result = await records.put({ ...write, lineIds: ids }, tally);
  if (result.outcome === 'stale') {
    const winner = (await records.storedLines(write, lineDef.parent, [id])).get(id);
    if (winner && winner.version > write.version) {
      const extra = droppedLines(ids, winner.lineIds);
      if (extra.length > 0)
        delta += await records.markLinesDeleted(write, lineDef.name, extra, winner.version, tally);
    }
  }
  if (delta !== 0) await records.addCounts(write, { [lineDef.name]: delta });
  return result;
}

/** How a webhook observed its object: by an event, a deleting one winning a tie of its second. */
function observedBy(def: ResourceDef, event: Pick<WebhookEvent, 'created' | 'type'>): Observation {
  return { at: event.created, by: 'event', ...(deletesObject(def, event.type) ? { deletes: true } : {}) };
}
