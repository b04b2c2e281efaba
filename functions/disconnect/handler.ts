import { disconnect } from '../../shared/connect/connect-service.js';
import type { SyncJob } from '../../shared/domain/sync-job.js';
import { badRequest } from '../../shared/errors.js';
import { type AuthConfig, callerFrom, requireAdmin } from '../../shared/http/auth.js';
import { httpHandler } from '../../shared/http/handler.js';
import { disconnectQuerySchema } from '../../shared/http/request-schemas.js';
import { json, noContent } from '../../shared/http/response.js';
import { logger } from '../../shared/logger.js';
import type { Clock } from '../../shared/ports/clock.js';
import type { ConnectionStore } from '../../shared/ports/connection-store.js';
import type { EventPublisher } from '../../shared/ports/event-publisher.js';
import type { JobQueue } from '../../shared/ports/job-queue.js';
import type { TokenVault } from '../../shared/ports/token-vault.js';

/**
 * DELETE /v1/integrations/stripe/connections/{connectionId} (org admin), or DELETE
 * /v1/integrations/stripe for the org's only connection: tokens deleted, status disconnected,
 * records kept; 204 also when already so. `?records=erase`: the records are erased too (202,
 * the erase queued; its progress is in the status).
 */
export const makeHandler = (deps: {
  store: ConnectionStore;
  vault: TokenVault;
  syncQueue: JobQueue<SyncJob>;
  clock: Clock;
  events: EventPublisher;
  auth: AuthConfig;
}) =>
  httpHandler(async (event) => {
    const caller = requireAdmin(callerFrom(event, deps.auth), deps.auth);
    logger.appendKeys({ orgId: caller.orgId });
    const query = disconnectQuerySchema.safeParse(event.queryStringParameters ?? {});
    if (!query.success)
      throw badRequest('The query may only be records=keep or records=erase.', 'invalid_request');
    const erase = query.data.records === 'erase';
    const erasing = await disconnect(deps, caller.orgId, event.pathParameters?.connectionId, { erase });
    return erasing ? json(202, erasing) : noContent();
  });
