import { z } from 'zod';

/**
 * The public API's request and response shapes. Handlers parse requests with
 * these; the OpenAPI document (shared/http/openapi.ts) is generated from them.
 */
export const errorSchema = z.object({
  error: z.object({ code: z.string(), message: z.string() }),
});

export const connectBodySchema = z
  .object({
    mode: z.enum(['test', 'live']).optional(),
    returnTo: z.string().max(2048).optional(),
  })
  .strict();

export const connectResponseSchema = z.object({
  authorizeUrl: z.url(),
  expiresAt: z.iso.datetime(),
});

export const callbackQuerySchema = z.object({
  state: z.string().min(1).max(1024).optional(),
  code: z.string().min(1).max(1024).optional(),
  error: z.string().max(256).optional(),
  error_description: z.string().max(2048).optional(),
});

export const statusResponseSchema = z.object({
  status: z.enum(['not_connected', 'connected', 'needs_reauth', 'revoked', 'disconnected']),
  account: z.object({ id: z.string(), livemode: z.boolean() }).nullable(),
  connectedAt: z.iso.datetime().nullable(),
  sync: z.object({
    state: z.enum(['idle', 'queued', 'running', 'failed']),
    lastSuccessAt: z.iso.datetime().nullable(),
    lastError: z.object({ code: z.string(), message: z.string(), at: z.string() }).nullable(),
    counts: z.record(z.string(), z.number()),
    progress: z.object({ resource: z.string(), records: z.number() }).nullable(),
  }),
});

export const syncResponseSchema = z.object({ state: z.literal('queued'), queuedAt: z.iso.datetime() });

export const webhookResponseSchema = z.object({ received: z.literal(true) });

export const healthResponseSchema = z.object({ status: z.literal('ok') });
