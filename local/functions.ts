import { makeHandler as connectConfirm } from '../functions/connect-confirm/handler.js';
import { makeHandler as connectStart } from '../functions/connect-start/handler.js';
import { makeHandler as disconnect } from '../functions/disconnect/handler.js';
import { makeHandler as health } from '../functions/health/handler.js';
import { makeHandler as oauthCallback } from '../functions/oauth-callback/handler.js';
import { makeHandler as recordsFeed } from '../functions/records/handler.js';
import { makeHandler as status } from '../functions/status/handler.js';
import { makeHandler as syncRequest } from '../functions/sync-request/handler.js';
import { makeHandler as webhookIntake } from '../functions/webhook-intake/handler.js';
import type { ConnectConfig } from '../shared/connect/connect-service.js';
import type { SyncJob } from '../shared/domain/sync-job.js';
import type { AuthConfig } from '../shared/http/auth.js';
import type { HttpFunctionName } from '../shared/http/routes.js';
import type { AppCredentials } from '../shared/ports/app-credentials.js';
import type { Clock } from '../shared/ports/clock.js';
import type { ConnectionStore } from '../shared/ports/connection-store.js';
import type { EventPublisher } from '../shared/ports/event-publisher.js';
import type { JobQueue } from '../shared/ports/job-queue.js';
import type { PendingInstallStore } from '../shared/ports/pending-installs.js';
import type { RecordsStore } from '../shared/ports/records-store.js';
import type { StripeTokenClient } from '../shared/ports/stripe-token-client.js';
import type { TokenVault } from '../shared/ports/token-vault.js';
import type { WebhookMessage } from '../shared/webhooks/intake.js';
import type { LambdaHttpHandler } from './api-adapter.js';

export interface LocalDeps {
  store: ConnectionStore;
  records: RecordsStore;
  installs: PendingInstallStore;
  vault: TokenVault;
  tokens: StripeTokenClient;
  syncQueue: JobQueue<SyncJob>;
  clock: Clock;
  auth: AuthConfig;
  connect: ConnectConfig;
  credentials: AppCredentials;
  webhookQueue: JobQueue<WebhookMessage>;
  syncMinIntervalMs: number;
  /** Where Defrr's events go (the local EventBridge stand-in). */
  events: EventPublisher;
}

/**
 * The local stack's composition root for HTTP functions: the same
 * `makeHandler` each Lambda entry calls, given the local adapters.
 */
export function localHttpHandlers(deps: LocalDeps): Record<HttpFunctionName, LambdaHttpHandler> {
  const {
    store,
    records,
    installs,
    vault,
    tokens,
    syncQueue,
    clock,
    auth,
    connect,
    credentials,
    webhookQueue,
    syncMinIntervalMs,
    events,
  } = deps;
  return {
    health: health() as LambdaHttpHandler,
    'connect-start': connectStart({ store, clock, auth, config: connect }) as LambdaHttpHandler,
    'connect-confirm': connectConfirm({
      store,
      installs,
      vault,
      syncQueue,
      clock,
      events,
      auth,
    }) as LambdaHttpHandler,
    'oauth-callback': oauthCallback({
      store,
      installs,
      vault,
      tokens,
      clock,
      config: connect,
    }) as LambdaHttpHandler,
    status: status({ store, records, auth, clock }) as LambdaHttpHandler,
    records: recordsFeed({ store, records, auth }) as LambdaHttpHandler,
    'sync-request': syncRequest({
      store,
      syncQueue,
      clock,
      auth,
      minIntervalMs: syncMinIntervalMs,
    }) as LambdaHttpHandler,
    disconnect: disconnect({ store, vault, syncQueue, clock, events, auth }) as LambdaHttpHandler,
    'webhook-intake': webhookIntake({ queue: webhookQueue, credentials }) as LambdaHttpHandler,
  };
}
