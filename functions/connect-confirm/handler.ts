import { type ConfirmDeps, confirmInstall } from '../../shared/connect/install.js';
import { type AuthConfig, callerFrom, requireAdmin } from '../../shared/http/auth.js';
import { parseJsonBody } from '../../shared/http/body.js';
import { httpHandler } from '../../shared/http/handler.js';
import { confirmBodySchema } from '../../shared/http/request-schemas.js';
import { json } from '../../shared/http/response.js';
import { logger } from '../../shared/logger.js';

/**
 * POST /v1/integrations/stripe/connect/confirm (org admin): the user who
 * started the connect confirms the install Stripe completed. 200 with the
 * status; 403 for anyone else, 404 when the install expired or was used.
 */
export const makeHandler = (deps: ConfirmDeps & { auth: AuthConfig }) =>
  httpHandler(async (event) => {
    const caller = requireAdmin(callerFrom(event, deps.auth), deps.auth);
    logger.appendKeys({ orgId: caller.orgId });
    const { install } = parseJsonBody(event, confirmBodySchema);
    return json(200, await confirmInstall(deps, caller, install), { 'cache-control': 'no-store' });
  });
