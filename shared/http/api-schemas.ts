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

/** The install token the callback put in the redirect (`inst_` and 32 random bytes, base64url). */
export const confirmBodySchema = z.strictObject({
  install: z
    .string()
    .check(z.regex(/^inst_[A-Za-z0-9_-]{43}$/, 'must be the install token from the redirect')),
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
    /** `interrupted`: the run's worker died; the sweep resumes it within minutes. */
    state: z.enum(['idle', 'queued', 'running', 'interrupted', 'failed']),
    lastSuccessAt: z.nullable(z.iso.datetime()),
    lastError: z.nullable(z.object({ code: z.string(), message: z.string(), at: z.string() })),
    counts: z.record(z.string(), z.number()),
    progress: z.nullable(z.object({ resource: z.string(), records: z.number() })),
    resourceErrors: z.record(z.string(), z.object({ code: z.string(), message: z.string(), at: z.string() })),
  }),
});

export const syncResponseSchema = z.object({ state: z.literal('queued'), queuedAt: z.iso.datetime() });

export const webhookResponseSchema = z.object({ received: z.literal(true) });

export const healthResponseSchema = z.object({ status: z.literal('ok') });
