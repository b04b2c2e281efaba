import * as z from 'zod/mini';
import '../zod-locale.js';
import { RECORD_RESOURCES, type ResourceName } from '../records/names.js';

export * from './request-schemas.js';

const CHANGE_ACTIONS = ['added', 'updated', 'deleted'] as const;
const FEED_RESOURCES = [...RECORD_RESOURCES] as [ResourceName, ...ResourceName[]];

/**
 * The public API's response shapes, and (re-exported) its requests'. The OpenAPI document
 * (shared/http/openapi.ts) is generated from them; handlers import request-schemas.ts alone.
 */
export const errorSchema = z.object({
  error: z.object({ code: z.string(), message: z.string() }),
});

export const connectResponseSchema = z.object({
  authorizeUrl: z.url(),
  expiresAt: z.iso.datetime(),
});

const accountSchema = z.object({ id: z.string(), name: z.nullable(z.string()), livemode: z.boolean() });
const syncSchema = z.object({
  /** `interrupted`: the run's worker died; the sweep resumes it within minutes. */
  state: z.enum(['idle', 'queued', 'running', 'interrupted', 'failed']),
  lastSuccessAt: z.nullable(z.iso.datetime()),
  lastError: z.nullable(z.object({ code: z.string(), message: z.string(), at: z.string() })),
  counts: z.record(z.string(), z.number()),
  progress: z.nullable(z.object({ resource: z.string(), records: z.number() })),
  resourceErrors: z.record(z.string(), z.object({ code: z.string(), message: z.string(), at: z.string() })),
});
const erasureSchema = z.object({
  state: z.enum(['queued', 'running', 'done']),
  requestedAt: z.iso.datetime(),
  finishedAt: z.nullable(z.iso.datetime()),
  /** Items deleted so far: records, invoice line pages, the counts. */
  items: z.number(),
});
const fullSyncSchema = z.object({
  /** `cancelled`: the connection stopped (disconnected, revoked) before it was done. */
  state: z.enum(['pending', 'running', 'done', 'cancelled']),
  resources: z.array(z.string()),
  requestedAt: z.iso.datetime(),
  startedAt: z.nullable(z.iso.datetime()),
  finishedAt: z.nullable(z.iso.datetime()),
  /**
   * Records the re-sync added, rewrote (`updated`: read again at a newer version, changed or
   * not), and marked deleted (Stripe no longer returns them).
   */
  added: z.number(),
  updated: z.number(),
  deleted: z.number(),
});

const runSchema = z.object({
  runId: z.string(),
  // `nightly`: the schedule; `resume`: the sweep took over a run whose worker died.
  trigger: z.enum(['initial', 'nightly', 'manual', 'webhook', 'continue', 'resume', 'erase']),
  startedAt: z.iso.datetime(),
  finishedAt: z.iso.datetime(),
  durationMs: z.number(),
  /**
   * `partial`: some resources failed, the others are up to date; `continued`: paused near the
   * function's deadline and queued again; `stopped`: the connection ended or needs
   * re-authorising; `failed`: it will be retried.
   */
  outcome: z.enum(['completed', 'partial', 'continued', 'stopped', 'failed']),
  /** Stripe requests the run made. */
  requests: z.number(),
  /** Records it wrote, per resource: new, changed, or read again at a newer version. */
  written: z.record(z.string(), z.number()),
  errors: z.array(
    z.object({ resource: z.optional(z.string()), code: z.string(), message: z.string(), at: z.string() }),
  ),
});

export const connectionViewSchema = z.object({
  /** Names the connection in paths: `<mode>_<account id>`. */
  id: z.string(),
  mode: z.enum(['test', 'live']),
  status: z.enum(['connected', 'needs_reauth', 'revoked', 'disconnected']),
  account: accountSchema,
  connectedAt: z.iso.datetime(),
  sync: syncSchema,
  fullSync: z.nullable(fullSyncSchema),
  erasure: z.nullable(erasureSchema),
  /** Its last sync runs, newest first (up to 10, kept 100 days): what support reads first. */
  runs: z.array(runSchema),
});

export const statusResponseSchema = z.object({
  /** The connection in use (the newest), for a page that shows one. */
  status: z.enum(['not_connected', 'connected', 'needs_reauth', 'revoked', 'disconnected']),
  account: z.nullable(accountSchema),
  connectedAt: z.nullable(z.iso.datetime()),
  sync: syncSchema,
  /** Every connection of the org, newest first. */
  connections: z.array(connectionViewSchema),
});

export const syncResponseSchema = z.object({
  state: z.literal('queued'),
  queuedAt: z.iso.datetime(),
  /** The connection it syncs. */
  connection: z.string(),
  mode: z.enum(['incremental', 'full']),
});

export const eraseResponseSchema = z.object({
  connection: z.string(),
  erasure: erasureSchema,
});

export const webhookResponseSchema = z.object({ received: z.literal(true) });

export const healthResponseSchema = z.object({ status: z.literal('ok') });

export const feedRecordSchema = z.object({
  resource: z.enum(FEED_RESOURCES),
  id: z.string(),
  cursor: z.string(),
  action: z.enum(CHANGE_ACTIONS),
  first_seen_at: z.iso.datetime(),
  last_modified_at: z.iso.datetime(),
  deleted_at: z.nullable(z.iso.datetime()),
  api_version: z.nullable(z.string()),
  parent_id: z.nullable(z.string()),
  object: z.record(z.string(), z.unknown()),
});

export const recordsResponseSchema = z.object({
  object: z.literal('list'),
  connection: z.string(),
  data: z.array(feedRecordSchema),
  next: z.string(),
  has_more: z.boolean(),
});
