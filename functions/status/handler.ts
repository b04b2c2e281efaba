import { connectionStatus, oneConnectionStatus } from '../../shared/connect/connect-service.js';
import { type AuthConfig, callerFrom } from '../../shared/http/auth.js';
import { httpHandler } from '../../shared/http/handler.js';
import { json } from '../../shared/http/response.js';
import type { Clock } from '../../shared/ports/clock.js';
import type { ConnectionStore } from '../../shared/ports/connection-store.js';
import type { RecordsStore } from '../../shared/ports/records-store.js';

/**
 * GET /v1/integrations/stripe/status, and GET …/connections/{id} for one connection as the status
 * lists it (any member of the org): the caller's org only.
 */
export const makeHandler = (deps: {
  store: ConnectionStore;
  records: Pick<RecordsStore, 'counts' | 'countsState'>;
  auth: AuthConfig;
  clock?: Clock;
}) =>
  httpHandler(async (event) => {
    const caller = callerFrom(event, deps.auth);
    const connectionId = event.pathParameters?.connectionId;
    const body =
      connectionId === undefined
        ? await connectionStatus(deps, caller.orgId)
        : await oneConnectionStatus(deps, caller.orgId, connectionId);
    return json(200, body, { 'cache-control': 'no-store' });
  });
