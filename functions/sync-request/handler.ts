import { type AuthConfig, callerFrom, requireAdmin } from '../../shared/http/auth.js';
import { parseJsonBody } from '../../shared/http/body.js';
import { httpHandler } from '../../shared/http/handler.js';
import { syncBodySchema } from '../../shared/http/request-schemas.js';
import { json } from '../../shared/http/response.js';
import { logger } from '../../shared/logger.js';
import { type RequestSyncDeps, requestSync } from '../../shared/sync/dispatch.js';

/**
 * POST /v1/integrations/stripe/connections/{connectionId}/sync (org admin), or POST
 * /v1/integrations/stripe/sync for the org's only connection: 202 queued, 409 not connected,
 * 429 too soon. Body `{ "mode": "full", "resources": [...] }`: a full re-sync (replacing one
 * not yet done).
 */
export const makeHandler = (deps: RequestSyncDeps & { auth: AuthConfig }) =>
  httpHandler(async (event) => {
    const caller = requireAdmin(callerFrom(event, deps.auth), deps.auth);
    logger.appendKeys({ orgId: caller.orgId });
    const input = parseJsonBody(event, syncBodySchema);
    return json(202, await requestSync(deps, caller.orgId, event.pathParameters?.connectionId, input));
  });
