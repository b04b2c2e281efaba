import { resolveConnection } from '../../shared/connect/connect-service.js';
import { publicConnectionId } from '../../shared/domain/connection.js';
import { badRequest, HttpError } from '../../shared/errors.js';
import { type AuthConfig, recordsReaderFrom } from '../../shared/http/auth.js';
import { httpHandler } from '../../shared/http/handler.js';
import { MAX_RECORDS_PAGE, recordsQuerySchema } from '../../shared/http/request-schemas.js';
import { json } from '../../shared/http/response.js';
import { logger } from '../../shared/logger.js';
import type { ConnectionStore } from '../../shared/ports/connection-store.js';
import {
  type ChangeAction,
  FeedCursorAheadError,
  FeedCursorErasedError,
  type RecordsStore,
  scopeOf,
} from '../../shared/ports/records-store.js';
import { decodeCursor, encodeCursor } from '../../shared/records/feed-cursor.js';
import type { ResourceName } from '../../shared/records/registry.js';

const DEFAULT_PAGE = 100;

/**
 * GET /v1/integrations/stripe/records (the org's only connection) and
 * GET /v1/integrations/stripe/connections/{connectionId}/records: a connection's change feed.
 * Each change is a record as stored now (its Stripe object, what last happened to it, its
 * cursor), in the order of the feed; `next` is where the following page starts. Read from
 * cursor zero and followed, it gives every record; a cursor is only valid for its connection.
 * Members read their org's; Defrr's backend (client-credentials token with the records
 * scope) reads the org it names in `org`.
 */
const NOT_GIVEN_OUT =
  'This cursor is not one this API gave out: use `next` or a record’s `cursor` as it was returned.';

export const makeHandler = (deps: {
  store: Pick<ConnectionStore, 'listConnections'>;
  records: Pick<RecordsStore, 'changes'>;
  auth: AuthConfig;
}) =>
  httpHandler(async (event) => {
    const parsed = recordsQuerySchema.safeParse(event.queryStringParameters ?? {});
    // The reader first: a bad query from someone who may not read is still 401/403.
    const reader = recordsReaderFrom(
      event,
      deps.auth,
      typeof event.queryStringParameters?.org === 'string' ? event.queryStringParameters.org : undefined,
    );
    logger.appendKeys({ orgId: reader.orgId, reader: reader.kind });
    if (!parsed.success)
      throw badRequest(
        `Invalid query: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'query'}: ${i.message}`).join('; ')}. Allowed: resource, action (added, updated, deleted), modified_after (ISO time), after (a cursor), limit (1–${MAX_RECORDS_PAGE}), org (service tokens).`,
        'invalid_request',
      );
    const query = parsed.data;
    const limit = query.limit === undefined ? DEFAULT_PAGE : Number(query.limit);
    if (limit > MAX_RECORDS_PAGE)
      throw badRequest(`limit is at most ${MAX_RECORDS_PAGE}.`, 'invalid_request');
    const connection = await resolveConnection(deps.store, reader.orgId, event.pathParameters?.connectionId);
    if (!connection) throw new HttpError(404, 'not_connected', 'This org has no Stripe connection.');
    const scope = scopeOf(connection);
    let after = 0;
    if (query.after !== undefined) {
      const decoded = decodeCursor(scope, query.after);
      if ('problem' in decoded)
        throw badRequest(
          decoded.problem === 'foreign'
            ? "This cursor belongs to another connection's records: start from the beginning (no `after`) or use a cursor this connection's pages gave."
            : NOT_GIVEN_OUT,
          'invalid_cursor',
        );
      after = decoded.position;
    }
    const page = await deps.records
      .changes(scope, {
        after,
        limit,
        ...(query.resource ? { resources: [...new Set(query.resource.split(','))] as ResourceName[] } : {}),
        ...(query.action ? { actions: [...new Set(query.action.split(','))] as ChangeAction[] } : {}),
        ...(query.modified_after ? { modifiedAfter: new Date(query.modified_after).toISOString() } : {}),
      })
      .catch((error: unknown) => {
        if (error instanceof FeedCursorAheadError) throw badRequest(NOT_GIVEN_OUT, 'invalid_cursor');
        if (error instanceof FeedCursorErasedError)
          throw badRequest(
            "This connection's records were erased after this cursor was given: drop what you hold of this connection and read again from the beginning (no `after`).",
            'invalid_cursor',
          );
        throw error;
      });
    return json(
      200,
      {
        object: 'list',
        connection: publicConnectionId(connection),
        data: page.changes.map((change) => ({
          resource: change.resource,
          id: change.objectId,
          cursor: encodeCursor(scope, change.seq),
          action: change.action,
          first_seen_at: change.firstSeenAt,
          last_modified_at: change.lastModifiedAt,
          deleted_at: change.action === 'deleted' ? change.lastModifiedAt : null,
          api_version: change.apiVersion ?? null,
          parent_id: change.parentId ?? null,
          object: change.object,
        })),
        next: encodeCursor(scope, page.next),
        has_more: page.hasMore,
      },
      { 'cache-control': 'no-store' },
    );
  });
