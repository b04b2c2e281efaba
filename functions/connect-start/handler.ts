import { type StartDeps, startConnect } from '../../shared/connect/connect-service.js';
import { type AuthConfig, callerFrom, requireAdmin } from '../../shared/http/auth.js';
import { parseJsonBody } from '../../shared/http/body.js';
import { httpHandler } from '../../shared/http/handler.js';
import { connectBodySchema } from '../../shared/http/request-schemas.js';
import { json } from '../../shared/http/response.js';
import { logger } from '../../shared/logger.js';

/** POST /v1/integrations/stripe/connect (org admin): issue a state, return the install URL. */
export const makeHandler = (deps: StartDeps & { auth: AuthConfig }) =>
  httpHandler(async (event) => {
    const caller = requireAdmin(callerFrom(event, deps.auth), deps.auth);
    logger.appendKeys({ orgId: caller.orgId });
    const input = parseJsonBody(event, connectBodySchema);
    return json(200, await startConnect(deps, caller, input));
  });
