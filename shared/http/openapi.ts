import { toJSONSchema } from 'zod/mini';
import type * as core from 'zod/v4/core';
import {
  callbackQuerySchema,
  confirmBodySchema,
  connectBodySchema,
  connectResponseSchema,
  errorSchema,
  healthResponseSchema,
  statusResponseSchema,
  syncResponseSchema,
  webhookResponseSchema,
} from './api-schemas.js';
import { type RouteDef, routes } from './routes.js';

type Json = Record<string, unknown>;
const schema = (s: core.$ZodType) => toJSONSchema(s) as Json;
const jsonContent = (s: core.$ZodType) => ({ 'application/json': { schema: schema(s) } });
const error = (description: string) => ({ description, content: jsonContent(errorSchema) });

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
    summary: 'Queue a sync now (org admin)',
    responses: {
      202: { description: 'Queued', content: jsonContent(syncResponseSchema) },
      409: error('Not connected'),
      429: error('A sync was asked for moments ago (one per interval; see Retry-After)'),
    },
  },
  'DELETE /v1/integrations/stripe': {
    summary: 'Disconnect Stripe: delete the tokens, stop syncing (org admin)',
    responses: { 204: { description: 'Disconnected (also when it already was)' } },
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
      description: 'Connect Stripe, see its status, sync, disconnect; Stripe webhooks.',
    },
    ...(serverUrl ? { servers: [{ url: serverUrl }] } : {}),
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
    paths,
  };
}
