import { type AuthConfig, callerFrom, requireAdmin } from '../../shared/http/auth.js';
import { httpHandler } from '../../shared/http/handler.js';
import { json } from '../../shared/http/response.js';
import { logger } from '../../shared/logger.js';
import { type RequestSyncDeps, requestSync } from '../../shared/sync/dispatch.js';

/** POST /v1/integrations/stripe/sync (org admin): 202 queued, 409 not connected, 429 too soon. */
export const makeHandler = (deps: RequestSyncDeps & { auth: AuthConfig }) =>
  httpHandler(async (event) => {
    const caller = requireAdmin(callerFrom(event, deps.auth), deps.auth);
    logger.appendKeys({ orgId: caller.orgId });
    return json(202, await requestSync(deps, caller.orgId));
  });
