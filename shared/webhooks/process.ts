import { endConnection } from '../connect/end-connection.js';
import type { SyncJob } from '../domain/sync-job.js';
import { describeError } from '../http/handler.js';
import { logger } from '../logger.js';
import { count, MetricNames } from '../metrics.js';
import type { Clock } from '../ports/clock.js';
import type { ConnectionStore } from '../ports/connection-store.js';
import type { EventLedger } from '../ports/event-ledger.js';
import type { JobQueue } from '../ports/job-queue.js';
import type { RecordsStore } from '../ports/records-store.js';
import type { TokenVault } from '../ports/token-vault.js';
import { recordVersion, resourceForEvent, type StripeObject } from '../records/registry.js';
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
        ? await handle(deps, message.event)
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
    const connection = await deps.store.getConnection(link.orgId);
    if (connection?.connectionId !== link.connectionId || connection.status !== 'connected') continue;
    await deps.syncQueue.send({ orgId: link.orgId, connectionId: link.connectionId, reason: 'webhook' });
    queued++;
  }
  logger.info('an event too large to queue: synced through /v1/events instead', { type: ref.type, queued });
  return queued > 0 ? 'processed' : 'dropped';
}

async function handle(deps: ProcessDeps, event: WebhookEvent): Promise<ProcessOutcome> {
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
    for (const link of matching) {
      const ended = await endConnection(deps, link.orgId, 'revoked', 'deauthorized', link.connectionId);
      if (ended) {
        count(MetricNames.connectionsRevoked);
        logger.warn('the app was uninstalled in Stripe: connection revoked', {
          orgId: link.orgId,
          accountId,
        });
      }
    }
    return 'processed';
  }
  if (event.type === 'account.application.authorized') {
    for (const link of matching) {
      await deps.store.noteAppEvent(link.orgId, link.connectionId, {
        type: event.type,
        id: event.id,
        at: new Date(event.created * 1000).toISOString(),
      });
    }
    return 'processed';
  }

  const object = event.data.object as StripeObject;
  const def = resourceForEvent(event.type, object);
  if (!def || typeof object.id !== 'string') return 'ignored';
  let written = 0;
  for (const link of matching) {
    const connection = await deps.store.getConnection(link.orgId);
    if (!connection || connection.connectionId !== link.connectionId || connection.status !== 'connected')
      continue;
    const result = await deps.records.put({
      orgId: link.orgId,
      accountId,
      resource: def.name,
      object,
      version: recordVersion(def, object, { at: event.created, by: 'event' }),
      source: 'webhook',
      deleted: event.type.endsWith('.deleted'),
    });
    if (result === 'written') written++;
    // An event embeds an invoice's first lines only; the rest come from its /lines list, which
    // the sync reads when it applies this same event from /v1/events.
    if (result === 'written' && def.name === 'invoices' && hasMoreLines(object)) {
      await deps.syncQueue.send({ orgId: link.orgId, connectionId: link.connectionId, reason: 'webhook' });
    }
  }
  logger.debug('webhook object upserted', { type: event.type, resource: def.name, written });
  return 'processed';
}

function hasMoreLines(invoice: StripeObject): boolean {
  const lines = invoice.lines as { has_more?: unknown } | undefined;
  return lines?.has_more === true;
}
