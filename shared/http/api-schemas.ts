import * as z from 'zod/mini';
import '../zod-locale.js';

/**
 * The public API's request and response shapes. Handlers parse requests with
 * these; the OpenAPI document (shared/http/openapi.ts) is generated from them.
 */
export const errorSchema = z.object({
  error: z.object({ code: z.string(), message: z.string() }),
});

export const connectBodySchema = z.strictObject({
  mode: z.optional(z.enum(['test', 'live'])),
  returnTo: z.optional(z.string().check(z.maxLength(2048))),
});

export const connectResponseSchema = z.object({
  authorizeUrl: z.url(),
  expiresAt: z.iso.datetime(),
});

export const callbackQuerySchema = z.object({
  state: z.optional(z.string().check(z.minLength(1), z.maxLength(1024))),
  code: z.optional(z.string().check(z.minLength(1), z.maxLength(1024))),
  error: z.optional(z.string().check(z.maxLength(256))),
  error_description: z.optional(z.string().check(z.maxLength(2048))),
});

export const statusResponseSchema = z.object({
  status: z.enum(['not_connected', 'connected', 'needs_reauth', 'revoked', 'disconnected']),
  account: z.nullable(z.object({ id: z.string(), name: z.nullable(z.string()), livemode: z.boolean() })),
  connectedAt: z.nullable(z.iso.datetime()),
  sync: z.object({
    state: z.enum(['idle', 'queued', 'running', 'failed']),
    lastSuccessAt: z.nullable(z.iso.datetime()),
    lastError: z.nullable(z.object({ code: z.string(), message: z.string(), at: z.string() })),
    counts: z.record(z.string(), z.number()),
    progress: z.nullable(z.object({ resource: z.string(), records: z.number() })),
  }),
});

export const syncResponseSchema = z.object({ state: z.literal('queued'), queuedAt: z.iso.datetime() });

export const webhookResponseSchema = z.object({ received: z.literal(true) });

export const healthResponseSchema = z.object({ status: z.literal('ok') });
