import { toJSONSchema } from 'zod/mini';
import type * as core from 'zod/v4/core';
import {
  callbackQuerySchema,
  confirmBodySchema,
  connectBodySchema,
  connectionViewSchema,
  connectResponseSchema,
  eraseResponseSchema,
  errorSchema,
  healthResponseSchema,
  MAX_RECORDS_PAGE,
  recordsResponseSchema,
  statusResponseSchema,
  syncBodySchema,
  syncResponseSchema,
  webhookResponseSchema,
} from './api-schemas.js';
import { type RouteDef, routes } from './routes.js';

type Json = Record<string, unknown>;
const schema = (s: core.$ZodType) => toJSONSchema(s) as Json;
const jsonContent = (s: core.$ZodType) => ({ 'application/json': { schema: schema(s) } });
const error = (description: string) => ({ description, content: jsonContent(errorSchema) });

const connectionIdParameter = {
  name: 'connectionId',
  in: 'path',
  required: true,
  description: 'A connection id as the status lists it: `<mode>_<account id>`',
  schema: { type: 'string', pattern: '^(test|live)_acct_[A-Za-z0-9]{1,64}$' },
};
const recordsParameter = {
  name: 'records',
  in: 'query',
  required: false,
  description: '`erase`: erase the connection’s records too (kept by default)',
  schema: { type: 'string', enum: ['keep', 'erase'] },
};
const syncBody = { required: false, content: jsonContent(syncBodySchema) };
const syncResponses = (more: Json) => ({
  202: { description: 'Queued', content: jsonContent(syncResponseSchema) },
  400: error('Invalid body'),
  415: error('The body is not JSON'),
  429: error('A sync was asked for moments ago (one per interval; see Retry-After)'),
  ...more,
});
const disconnectResponses = (more: Json) => ({
  202: {
    description: 'Disconnected; the erase of its records is queued',
    content: jsonContent(eraseResponseSchema),
  },
  204: { description: 'Disconnected (also when it already was); records kept' },
  400: error('Invalid query'),
  ...more,
});

const recordsParameters = [
  {
    name: 'after',
    in: 'query',
    required: false,
    description:
      'A cursor this connection gave (`next`, or a record’s `cursor`): the changes after it. None: from the start of the feed.',
    schema: { type: 'string', pattern: '^fc1_[A-Za-z0-9_-]{16}_[0-9]+$' },
  },
  {
    name: 'limit',
    in: 'query',
    required: false,
    description: `Changes per page, 1–${MAX_RECORDS_PAGE} (default 100)`,
    schema: { type: 'integer', minimum: 1, maximum: MAX_RECORDS_PAGE },
  },
  {
    name: 'resource',
    in: 'query',
    required: false,
    description: 'Only these resources, comma-separated (`charges,refunds`)',
    schema: { type: 'string' },
  },
  {
    name: 'action',
    in: 'query',
    required: false,
    description: 'Only records whose last change was one of these, comma-separated: added, updated, deleted',
    schema: { type: 'string' },
  },
  {
    name: 'modified_after',
    in: 'query',
    required: false,
    description: 'Only records last written after this time (ISO 8601)',
    schema: { type: 'string', format: 'date-time' },
  },
  {
    name: 'org',
    in: 'query',
    required: false,
    description:
      'Service tokens only (client credentials with the records scope, no org claim): the org to read. A member may name only their own.',
    schema: { type: 'string' },
  },
];
const recordsResponses = (more: Json) => ({
  200: {
    description:
      'A page of changes in feed order: each record as stored now, what last happened to it, its cursor; `next` and `has_more`',
    content: jsonContent(recordsResponseSchema),
  },
  400: error('Invalid query, or a cursor that is malformed or belongs to another connection'),
  404: error('No such connection (or none) in the org'),
  ...more,
});

/** What each route answers, beyond the errors every JWT route shares. */
const operations: Record<string, Json> = {
  'GET /v1/health': {
    summary: 'Liveness',
    responses: { 200: { description: 'Up', content: jsonContent(healthResponseSchema) } },
  },
  'POST /v1/integrations/stripe/connect': {
    summary: 'Start connecting Stripe (org admin): returns the Stripe install URL',
    requestBody: { required: false, content: jsonContent(connectBodySchema) },
    responses: {
      200: {
        description: 'The install URL and when its state expires',
        content: jsonContent(connectResponseSchema),
      },
      400: error('Invalid body or returnTo'),
      415: error('The body is not JSON'),
      429: error('Too many connection attempts for this org'),
    },
  },
  'POST /v1/integrations/stripe/connect/confirm': {
    summary:
      'Confirm an install Stripe completed (org admin; only the user who started the connect): connects the account and queues the first sync',
    requestBody: { required: true, content: jsonContent(confirmBodySchema) },
    responses: {
      200: { description: 'Connected: the status', content: jsonContent(statusResponseSchema) },
      400: error('Invalid body'),
      415: error('The body is not JSON'),
      403: error('The install was started by another user (nothing was connected)'),
      404: error('The install expired or was already confirmed'),
    },
  },
  'GET /v1/integrations/stripe/callback': {
    summary: "Stripe's redirect after the install page (public)",
    parameters: Object.entries((schema(callbackQuerySchema).properties ?? {}) as Record<string, Json>).map(
      ([name, s]) => ({
        name,
        in: 'query',
        required: false,
        schema: s,
      }),
    ),
    responses: {
      302: {
        description:
          'Back to the frontend with `stripe=confirm&install=…` (for the page to confirm), or `stripe=error&reason=…` (and `ref` for internal errors)',
        headers: { Location: { schema: { type: 'string', format: 'uri' } } },
      },
    },
  },
  'GET /v1/integrations/stripe/status': {
    summary: "The caller's org: connection and sync status (org member)",
    responses: { 200: { description: 'Status', content: jsonContent(statusResponseSchema) } },
  },
  'POST /v1/integrations/stripe/sync': {
    summary:
      "Queue a sync of the org's only connection now (org admin); with several, name one (…/connections/{connectionId}/sync)",
    requestBody: syncBody,
    responses: syncResponses({
      409: error('Not connected, or several connections: name one'),
    }),
  },
  'POST /v1/integrations/stripe/connections/{connectionId}/sync': {
    operationId: 'sync-request-connection',
    summary: 'Queue a sync of one connection now: incremental, or a full re-sync (org admin)',
    parameters: [connectionIdParameter],
    requestBody: syncBody,
    responses: syncResponses({
      404: error('The org has no connection with that id'),
      409: error('Not connected'),
    }),
  },
  'DELETE /v1/integrations/stripe': {
    summary:
      "Disconnect the org's only connection: delete the tokens, stop syncing (org admin); records kept unless records=erase",
    parameters: [recordsParameter],
    responses: disconnectResponses({ 409: error('Several connections: name one') }),
  },
  'GET /v1/integrations/stripe/connections/{connectionId}': {
    operationId: 'status-connection',
    summary: 'One connection as the status lists it (org member)',
    parameters: [connectionIdParameter],
    responses: {
      200: { description: 'The connection', content: jsonContent(connectionViewSchema) },
      404: error('The org has no connection with that id'),
    },
  },
  'DELETE /v1/integrations/stripe/connections/{connectionId}': {
    operationId: 'disconnect-connection',
    summary:
      'Disconnect one connection: delete the tokens, stop syncing (org admin); records kept unless records=erase',
    parameters: [connectionIdParameter, recordsParameter],
    responses: disconnectResponses({ 404: error('The org has no connection with that id') }),
  },
  'GET /v1/integrations/stripe/records': {
    summary:
      "The change feed of the org's only connection (org member, or Defrr's backend with the records scope naming `org`)",
    parameters: recordsParameters,
    responses: recordsResponses({ 409: error('Several connections: name one') }),
  },
  'GET /v1/integrations/stripe/connections/{connectionId}/records': {
    operationId: 'records-connection',
    summary: "One connection's change feed: records in the order they changed, from a cursor",
    parameters: [connectionIdParameter, ...recordsParameters],
    responses: recordsResponses({}),
  },
  'POST /v1/webhooks/stripe': {
    summary: "Stripe's webhook deliveries (signed)",
    parameters: [{ name: 'Stripe-Signature', in: 'header', required: true, schema: { type: 'string' } }],
    requestBody: {
      required: true,
      content: { 'application/json': { schema: { type: 'object', description: 'A Stripe event' } } },
    },
    responses: {
      200: { description: 'Verified and queued', content: jsonContent(webhookResponseSchema) },
      400: error('Missing or invalid signature, or not an event'),
      413: error('Over 1 MB'),
      500: error('Not queued: Stripe retries'),
    },
  },
};

/** The OpenAPI 3.1 document of the HTTP API, generated from the route list and the zod schemas. */
export function openApiDocument(serverUrl?: string): Json {
  const paths: Record<string, Record<string, Json>> = {};
  for (const route of routes as readonly RouteDef[]) {
    const key = `${route.method} ${route.path}`;
    const operation = operations[key];
    if (!operation) throw new Error(`no OpenAPI operation for ${key}`);
    const responses = { ...(operation.responses as Json) };
    if (route.auth === 'jwt') {
      responses[401] = { description: 'No or invalid bearer token (API Gateway)' };
      responses[403] = error('The token names no org, or the role may not do this');
    }
    paths[route.path] ??= {};
    (paths[route.path] as Record<string, Json>)[route.method.toLowerCase()] = {
      operationId: route.function,
      ...operation,
      responses,
      ...(route.auth === 'jwt' ? { security: [{ bearer: [] }] } : { security: [] }),
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Defrr Stripe connector',
      version: '1.0.0',
      description:
        'Connect Stripe, see its status, sync, disconnect, read the synced records and their changes; Stripe webhooks.',
    },
    ...(serverUrl ? { servers: [{ url: serverUrl }] } : {}),
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
    paths,
  };
}
