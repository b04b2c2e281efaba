import * as z from 'zod/mini';
import '../zod-locale.js';
import { RECORD_RESOURCES, RESOURCES, type ResourceName } from '../records/registry.js';

const RESOURCE_NAMES = RESOURCES.map((def) => def.name) as [ResourceName, ...ResourceName[]];

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

/** `POST …/sync`: incremental (the default), or a full re-sync of some or every resource. */
export const syncBodySchema = z
  .strictObject({
    mode: z.optional(z.enum(['incremental', 'full'])),
    resources: z.optional(
      z.array(z.enum(RESOURCE_NAMES)).check(
        z.minLength(1),
        z.refine((names) => new Set(names).size === names.length, 'must not repeat a resource'),
      ),
    ),
  })
  .check(
    z.refine((body) => body.resources === undefined || body.mode === 'full', {
      message: 'resources: only a full re-sync ("mode": "full") names resources',
    }),
  );

export const syncResponseSchema = z.object({
  state: z.literal('queued'),
  queuedAt: z.iso.datetime(),
  /** The connection it syncs. */
  connection: z.string(),
  mode: z.enum(['incremental', 'full']),
});

/** `DELETE …`: `records=erase` erases the connection's records too (they are kept by default). */
/** Strict: a misspelt option of a destructive call is refused, not ignored. */
export const disconnectQuerySchema = z.strictObject({
  records: z.optional(z.enum(['keep', 'erase'])),
});

export const eraseResponseSchema = z.object({
  connection: z.string(),
  erasure: erasureSchema,
});

export const webhookResponseSchema = z.object({ received: z.literal(true) });

export const healthResponseSchema = z.object({ status: z.literal('ok') });

/** The most changes one page of the records API holds. */
export const MAX_RECORDS_PAGE = 1000;
const FEED_RESOURCES = [...RECORD_RESOURCES] as [ResourceName, ...ResourceName[]];
const CHANGE_ACTIONS = ['added', 'updated', 'deleted'] as const;

/** `GET …/records`: every parameter a string, as API Gateway passes them (lists comma-separated). */
export const recordsQuerySchema = z.strictObject({
  resource: z.optional(
    z.string().check(z.regex(new RegExp(`^(${FEED_RESOURCES.join('|')})(,(${FEED_RESOURCES.join('|')}))*$`))),
  ),
  action: z.optional(z.string().check(z.regex(/^(added|updated|deleted)(,(added|updated|deleted))*$/))),
  modified_after: z.optional(z.iso.datetime({ offset: true })),
  after: z.optional(z.string().check(z.maxLength(64))),
  limit: z.optional(z.string().check(z.regex(/^[1-9][0-9]{0,3}$/))),
  org: z.optional(z.string().check(z.maxLength(64))),
});

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
