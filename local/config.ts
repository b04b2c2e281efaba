import { resolve } from 'node:path';
import { z } from 'zod';
import { parseConfig } from '../shared/config.js';

const port = z.coerce.number().int().min(0).max(65_535);

/**
 * The local stack's settings. Every value has an embedded default so that
 * `npm start` runs on a fresh clone; each can be overridden from the environment.
 */
export const localConfigSchema = z.object({
  HOST: z.string().default('127.0.0.1'),
  PORT: port.default(3000),
  /** The browser-facing origin of the local stack (integration page, callback). */
  PUBLIC_URL: z.url().optional(),
  DATA_DIR: z.string().default('.data'),
  STRIPE_SANDBOX_PORT: port.default(12111),
  /** The embedded DynamoDB's port (0 = any free port). */
  DYNAMODB_PORT: port.default(8000),
  /** 32-byte key for the local token vault, base64; generated into DATA_DIR when unset. */
  LOCAL_VAULT_KEY: z
    .string()
    .refine((v) => Buffer.from(v, 'base64').length === 32, 'must be 32 bytes, base64-encoded')
    .optional(),
  /** Runs the nightly schedule every N minutes locally (off when unset; POST /_local/schedule/run triggers it). */
  LOCAL_SCHEDULE_MINUTES: z.coerce.number().positive().optional(),
  /** Runs the sweep (stalled syncs, unconfirmed installs, orphaned secrets) every N seconds; 0 = only on POST /_local/sweep/run. */
  LOCAL_SWEEP_SECONDS: z.coerce.number().int().min(0).default(60),
  /** How long the service waits for Stripe (the sandbox here). */
  STRIPE_TIMEOUT_MS: z.coerce.number().int().positive().default(10_000),
  /** Which org the integration page acts as, unless its URL says `?org=`. */
  LOCAL_ORG: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/)
    .default('org_demo'),
  /** The sync's request budget per account (Stripe allows 25/s in test mode, 100/s live). */
  SYNC_BUDGET_TEST: z.coerce.number().int().positive().default(20),
  SYNC_BUDGET_LIVE: z.coerce.number().int().positive().default(80),
  /** Workers a large live backfill is shared out among (1: never shared out). */
  SYNC_FANOUT_WORKERS: z.coerce.number().int().min(1).max(16).default(8),
  SYNC_MIN_INTERVAL_SECONDS: z.coerce.number().int().min(0).default(60),
  /** How long a sync lease lasts unrenewed (a worker that died is taken over after about this long). */
  SYNC_LEASE_SECONDS: z.coerce.number().int().min(2).default(180),
  JWT_ORG_CLAIM: z.string().min(1).default('org_id'),
  JWT_ROLES_CLAIM: z.string().min(1).default('roles'),
  JWT_ADMIN_ROLE: z.string().min(1).default('admin'),
  /** The scope of Defrr's backend's tokens for the records API (`npm run token -- --service`). */
  RECORDS_SERVICE_SCOPE: z.string().min(1).default('stripe-connector/records.read'),
  LOG_LEVEL: z.enum(['DEBUG', 'INFO', 'WARN', 'ERROR', 'SILENT']).default('INFO'),
});

export type LocalConfig = z.infer<typeof localConfigSchema> & { publicUrl: string; dataDir: string };

export function loadLocalConfig(env: Record<string, string | undefined> = process.env): LocalConfig {
  const parsed = parseConfig(localConfigSchema, env);
  return {
    ...parsed,
    publicUrl: (parsed.PUBLIC_URL ?? `http://localhost:${parsed.PORT}`).replace(/\/$/, ''),
    dataDir: resolve(parsed.DATA_DIR),
  };
}
