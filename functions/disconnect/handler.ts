import { disconnect } from '../../shared/connect/connect-service.js';
import { type AuthConfig, callerFrom, requireAdmin } from '../../shared/http/auth.js';
import { httpHandler } from '../../shared/http/handler.js';
import { noContent } from '../../shared/http/response.js';
import { logger } from '../../shared/logger.js';
import type { Clock } from '../../shared/ports/clock.js';
import type { ConnectionStore } from '../../shared/ports/connection-store.js';
import type { TokenVault } from '../../shared/ports/token-vault.js';

/** DELETE /v1/integrations/stripe (org admin): tokens deleted, status disconnected. 204 also when already so. */
export const makeHandler = (deps: {
  store: ConnectionStore;
  vault: TokenVault;
  clock: Clock;
  auth: AuthConfig;
}) =>
  httpHandler(async (event) => {
    const caller = requireAdmin(callerFrom(event, deps.auth), deps.auth);
    logger.appendKeys({ orgId: caller.orgId });
    await disconnect(deps, caller.orgId);
    return noContent();
  });
