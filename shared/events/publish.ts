import { publicConnectionId } from '../domain/connection.js';
import { describeError } from '../http/handler.js';
import { logger } from '../logger.js';
import type { EventPublisher } from '../ports/event-publisher.js';
import type { ChangeAction, ChangeTally, RecordScope } from '../ports/records-store.js';
import { encodeCursor } from '../records/feed-cursor.js';
import type { EventDetailType } from './catalog.js';

/** Which connection an event is about, as every event of the catalog says it. */
export function aboutConnection(
  orgId: string,
  connection: { accountId: string; livemode: boolean; connectionId: string },
) {
  return {
    orgId,
    connection: publicConnectionId(connection),
    accountId: connection.accountId,
    connectionId: connection.connectionId,
    livemode: connection.livemode,
  };
}

/**
 * Publishes one event of the catalog, best effort: what it tells is already recorded (the
 * connection's state, the records), so a bus that refuses it is logged, not retried into a
 * second copy of the work.
 */
export async function tell(
  events: EventPublisher,
  type: EventDetailType,
  detail: Record<string, unknown>,
): Promise<void> {
  await events
    .publish(type, detail)
    .catch((error: unknown) =>
      logger.warn('could not publish an event', { type, error: describeError(error) }),
    );
}

/** `Stripe Records Changed` for a batch of writes; nothing when it changed nothing. Empties the tally. */
export async function tellChanges(
  events: EventPublisher,
  about: ReturnType<typeof aboutConnection>,
  scope: RecordScope,
  tally: ChangeTally,
  source: 'sync' | 'webhook',
  at: Date,
): Promise<void> {
  if (tally.first === undefined || tally.last === undefined) return;
  const counts: Record<ChangeAction, number> = { added: 0, updated: 0, deleted: 0 };
  for (const each of Object.values(tally.resources))
    for (const action of ['added', 'updated', 'deleted'] as const) counts[action] += each?.[action] ?? 0;
  const detail = {
    ...about,
    source,
    counts,
    resources: tally.resources,
    cursor: { after: encodeCursor(scope, tally.first - 1), to: encodeCursor(scope, tally.last) },
    at: at.toISOString(),
  };
  tally.resources = {};
  delete tally.first;
  delete tally.last;
  await tell(events, 'Stripe Records Changed', detail);
}
