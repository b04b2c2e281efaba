import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoAllowanceStore } from '../adapters/dynamodb/allowance-store.js';
import { DynamoConnectionRequests } from '../adapters/dynamodb/connection-requests.js';
import { DynamoConnectionStore } from '../adapters/dynamodb/connection-store.js';
import { DynamoConnections } from '../adapters/dynamodb/connections.js';
import { documentClient } from '../adapters/dynamodb/document-client.js';
import { DynamoOAuthStateStore } from '../adapters/dynamodb/oauth-state-store.js';
import { DynamoPendingInstallStore } from '../adapters/dynamodb/pending-install-store.js';
import { DynamoSyncMarks } from '../adapters/dynamodb/sync-marks.js';
import { EventBridgePublisher } from '../adapters/eventbridge/event-publisher.js';
import { SecretsManagerAppCredentials } from '../adapters/secrets-manager/app-credentials.js';
import { SecretsManagerTokenVault } from '../adapters/secrets-manager/token-vault.js';
import { SqsJobQueue } from '../adapters/sqs/job-queue.js';
import { HttpStripeTokenClient } from '../adapters/stripe/token-client.js';
import type { StartDeps } from '../connect/connect-service.js';
import type { RequestSyncDeps } from '../sync/dispatch.js';

/**
 * Builders for the production adapters, used by each function's index.ts at
 * module scope (once per container). Each takes only the settings it needs;
 * AWS_ENDPOINT_URL (unset in AWS) points them at loopback for tests.
 */
const endpoint = (env: { AWS_ENDPOINT_URL?: string | undefined }) =>
  env.AWS_ENDPOINT_URL ? { endpoint: env.AWS_ENDPOINT_URL } : {};

/** One DynamoDB client per container, shared by every table adapter. */
export function dynamo(env: { AWS_REGION: string; AWS_ENDPOINT_URL?: string | undefined }) {
  return documentClient(new DynamoDBClient({ region: env.AWS_REGION, ...endpoint(env) }));
}

export function connectionStore(
  env: { SERVICE_TABLE_NAME: string; AWS_REGION: string; AWS_ENDPOINT_URL?: string | undefined },
  db: DynamoDBDocumentClient = dynamo(env),
) {
  return new DynamoConnectionStore(db, env.SERVICE_TABLE_NAME);
}

/** What connect-start touches: the org's connect allowance and the OAuth state it issues. */
export function connectStartStore(
  env: { SERVICE_TABLE_NAME: string; AWS_REGION: string; AWS_ENDPOINT_URL?: string | undefined },
  db: DynamoDBDocumentClient = dynamo(env),
): StartDeps['store'] {
  const allowances = new DynamoAllowanceStore(db, env.SERVICE_TABLE_NAME);
  const states = new DynamoOAuthStateStore(db, env.SERVICE_TABLE_NAME);
  return {
    takeAllowance: (...args) => allowances.takeAllowance(...args),
    putState: (state) => states.putState(state),
  };
}

/** What sync-request touches: the org's connections, their sync marks, full re-sync requests. */
export function syncRequestStore(
  env: { SERVICE_TABLE_NAME: string; AWS_REGION: string; AWS_ENDPOINT_URL?: string | undefined },
  db: DynamoDBDocumentClient = dynamo(env),
): RequestSyncDeps['store'] {
  const connections = new DynamoConnections(db, env.SERVICE_TABLE_NAME);
  const marks = new DynamoSyncMarks(db, env.SERVICE_TABLE_NAME);
  const requests = new DynamoConnectionRequests(db, env.SERVICE_TABLE_NAME);
  return {
    listConnections: (...args) => connections.listConnections(...args),
    getConnection: (...args) => connections.getConnection(...args),
    takeManualSync: (...args) => marks.takeManualSync(...args),
    returnManualSync: (...args) => marks.returnManualSync(...args),
    markSyncQueued: (...args) => marks.markSyncQueued(...args),
    requestFullSync: (...args) => requests.requestFullSync(...args),
  };
}

/** The OAuth states alone: the callback consumes one and touches no other part of the store. */
export function oauthStateStore(
  env: { SERVICE_TABLE_NAME: string; AWS_REGION: string; AWS_ENDPOINT_URL?: string | undefined },
  db: DynamoDBDocumentClient = dynamo(env),
) {
  return new DynamoOAuthStateStore(db, env.SERVICE_TABLE_NAME);
}

export function pendingInstallStore(
  env: { SERVICE_TABLE_NAME: string; AWS_REGION: string; AWS_ENDPOINT_URL?: string | undefined },
  db: DynamoDBDocumentClient = dynamo(env),
) {
  return new DynamoPendingInstallStore(db, env.SERVICE_TABLE_NAME);
}

export function secretsManager(env: { AWS_REGION: string; AWS_ENDPOINT_URL?: string | undefined }) {
  return new SecretsManagerClient({ region: env.AWS_REGION, ...endpoint(env) });
}

export function tokenVault(client: SecretsManagerClient, kmsKeyId?: string) {
  return new SecretsManagerTokenVault(client, kmsKeyId);
}

export function appCredentials(
  client: SecretsManagerClient,
  ids: { keysSecretId?: string; webhookSecretsSecretId?: string },
) {
  return new SecretsManagerAppCredentials(client, ids);
}

export function sqsQueue<T>(
  env: { AWS_REGION: string; AWS_ENDPOINT_URL?: string | undefined },
  queueUrl: string,
) {
  return new SqsJobQueue<T>(new SQSClient({ region: env.AWS_REGION, ...endpoint(env) }), queueUrl);
}

/** Stripe's token endpoint, with the app's secret keys from Secrets Manager. */
export function stripeTokenClient(
  client: SecretsManagerClient,
  env: { APP_CREDENTIALS_SECRET_ID: string; STRIPE_API_BASE: string; STRIPE_TIMEOUT_MS: number },
) {
  return new HttpStripeTokenClient(
    appCredentials(client, { keysSecretId: env.APP_CREDENTIALS_SECRET_ID }),
    env.STRIPE_API_BASE,
    env.STRIPE_TIMEOUT_MS,
  );
}

/** The bus Defrr's events go to. */
export function eventPublisher(env: {
  AWS_REGION: string;
  AWS_ENDPOINT_URL?: string | undefined;
  EVENT_BUS_NAME: string;
  EVENT_SOURCE: string;
}) {
  const endpoint = env.AWS_ENDPOINT_URL ? { endpoint: env.AWS_ENDPOINT_URL } : {};
  return new EventBridgePublisher(
    new EventBridgeClient({ region: env.AWS_REGION, ...endpoint }),
    env.EVENT_BUS_NAME,
    env.EVENT_SOURCE,
  );
}
