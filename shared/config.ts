import * as z from 'zod/mini';
import type * as core from 'zod/v4/core';
import './zod-locale.js';

/**
 * Configuration is read once, at start-up, from the environment and parsed with
 * zod. A missing or invalid variable fails loudly with its name; there are no
 * placeholder defaults for anything that must differ between deployments.
 *
 * The schemas use `zod/mini`: it tree-shakes, and the classic API's module
 * init alone cost each function about 20 ms of cold start (docs/benchmarks.md).
 */
export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(readonly issues: string[]) {
    super(`Invalid configuration:\n  - ${issues.join('\n  - ')}`);
  }
}

export type Env = Record<string, string | undefined>;

type Intersect<U> = (U extends unknown ? (u: U) => void : never) extends (i: infer I) => void ? I : never;
/** The parsed settings of several config parts, as one object. */
export type ConfigOf<S extends readonly core.$ZodType[]> = Intersect<core.output<S[number]>>;

/**
 * Parses the environment with one or more config parts (each a zod object),
 * reporting every missing or invalid variable of every part at once.
 */
export function parseConfig<S extends core.$ZodType>(schema: S, env?: Env): core.output<S>;
export function parseConfig<S extends readonly core.$ZodType[]>(schemas: S, env?: Env): ConfigOf<S>;
export function parseConfig(schemas: core.$ZodType | readonly core.$ZodType[], env: Env = process.env) {
  const parts = Array.isArray(schemas) ? schemas : [schemas];
  const config: Record<string, unknown> = {};
  const issues: string[] = [];
  for (const schema of parts as core.$ZodType[]) {
    const result = z.safeParse(schema, env);
    if (result.success) {
      Object.assign(config, result.data);
      continue;
    }
    for (const issue of result.error.issues) {
      const [name = '(root)', ...rest] = issue.path.map(String);
      const received = env[name] === undefined ? 'missing' : 'invalid';
      const where = rest.length > 0 ? ` at ${rest.join('.')}` : '';
      issues.push(`${name}: ${received} (${issue.message}${where})`);
    }
  }
  if (issues.length > 0) throw new ConfigError([...new Set(issues)]);
  return config;
}

// Each part is a function that builds its schema: a function's bundle then
// builds only the parts it parses (zod schemas cost init time to build).
// zod schemas are immutable (`.check` makes a copy), so every part shares one: each schema
// built at init is cold-start time.
const NON_EMPTY = z.string().check(z.trim(), z.minLength(1));
const nonEmpty = () => NON_EMPTY;
const csv = () =>
  z.pipe(
    nonEmpty(),
    z.transform((value) =>
      value
        .split(',')
        .map((part) => part.trim())
        .filter(Boolean),
    ),
  );
/** An integer read from an environment string, within [min, max]. */
const integer = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.pipe(z.coerce.number(), z.int().check(z.minimum(min), z.maximum(max)));

/** Where AWS is (Lambda sets AWS_REGION). */
export const awsConfig = () =>
  z.object({
    AWS_REGION: nonEmpty(),
    /** Lets tests point the AWS SDK at loopback (moto). Unset in AWS. */
    AWS_ENDPOINT_URL: z.optional(z.url()),
  });

/** Settings every function that touches the service table shares. */
export const baseConfig = () =>
  z.extend(awsConfig(), {
    SERVICE_TABLE_NAME: nonEmpty(),
  });

/** The records table, for the functions that read or write records (its name is set on no other). */
export const recordsConfig = () => z.object({ RECORDS_TABLE_NAME: nonEmpty() });

/** How verified JWT claims are read (API Gateway's JWT authorizer verifies them). */
export const authConfig = () =>
  z.object({
    JWT_ORG_CLAIM: nonEmpty(),
    JWT_ROLES_CLAIM: nonEmpty(),
    JWT_ADMIN_ROLE: nonEmpty(),
    /**
     * The scope of Defrr's backend's client-credentials tokens (an OAuth2 resource server
     * scope, as Cognito names them): such a token, naming no org of its own, reads any org's
     * records by naming it (`?org=`). User tokens never get it (they name their org).
     */
    RECORDS_SERVICE_SCOPE: z._default(nonEmpty(), 'stripe-connector/records.read'),
  });

export const frontendConfig = () =>
  z.object({
    /** Allowed browser origins (CORS) and the origins `returnTo` may point at. */
    FRONTEND_ORIGINS: z.pipe(csv(), z.array(z.url()).check(z.minLength(1))),
    /** Path of the integration page on the first frontend origin. */
    FRONTEND_INTEGRATION_PATH: nonEmpty().check(z.startsWith('/')),
  });

const mode = () => z.enum(['test', 'live']);

/** Where Stripe is and how long to wait for it. */
export const stripeApiConfig = () =>
  z.object({
    STRIPE_API_BASE: z._default(z.url(), 'https://api.stripe.com'),
    STRIPE_TIMEOUT_MS: z._default(integer(1), 10_000),
    STRIPE_MAX_NETWORK_RETRIES: z._default(integer(0, 5), 1),
  });

/** The Stripe app's OAuth settings (public values: the secrets live in Secrets Manager). */
export const connectConfig = () =>
  z
    .object({
      STRIPE_CLIENT_ID: nonEmpty().check(z.startsWith('ca_')),
      STRIPE_AUTHORIZE_URL_TEST: z.optional(z.url()),
      STRIPE_AUTHORIZE_URL_LIVE: z.optional(z.url()),
      STRIPE_DEFAULT_MODE: mode(),
      OAUTH_REDIRECT_URI: z.url(),
      TOKEN_SECRET_PREFIX: nonEmpty(),
      /** Connect starts per org per 10 minutes (which also caps outstanding OAuth states). */
      CONNECT_LIMIT_PER_10_MINUTES: z._default(integer(1), 10),
    })
    .check(
      z.refine((c) => Boolean(c.STRIPE_AUTHORIZE_URL_TEST ?? c.STRIPE_AUTHORIZE_URL_LIVE), {
        message: 'set STRIPE_AUTHORIZE_URL_TEST and/or STRIPE_AUTHORIZE_URL_LIVE',
        path: ['STRIPE_AUTHORIZE_URL_LIVE'],
      }),
      z.refine(
        (c) =>
          Boolean(
            c.STRIPE_DEFAULT_MODE === 'live' ? c.STRIPE_AUTHORIZE_URL_LIVE : c.STRIPE_AUTHORIZE_URL_TEST,
          ),
        { message: 'the default mode needs its authorize URL', path: ['STRIPE_DEFAULT_MODE'] },
      ),
    );

/** What functions that hold tokens need: the app's credentials secret and where connection secrets go. */
export const tokenConfig = () =>
  z.object({
    APP_CREDENTIALS_SECRET_ID: nonEmpty(),
    TOKEN_SECRET_PREFIX: nonEmpty(),
    /** The service's KMS key for connection secrets. */
    KMS_KEY_ID: nonEmpty(),
  });

export const syncQueueConfig = () => z.object({ SYNC_QUEUE_URL: z.url() });

/** The sync worker's limits and where it announces finished runs. */
export const syncConfig = () =>
  z.object({
    SYNC_BUDGET_LIVE: z._default(integer(1, 100), 80),
    SYNC_BUDGET_TEST: z._default(integer(1, 25), 20),
    SYNC_MAX_SLICES: z._default(integer(1, 32), 12),
    /** Workers a large live backfill is shared out among (1: never shared out). */
    SYNC_FANOUT_WORKERS: z._default(integer(1, 16), 8),
  });

/** Where the service tells Defrr what happens (EventBridge: docs/events.schema.json). */
export const eventsConfig = () =>
  z.object({
    EVENT_BUS_NAME: nonEmpty(),
    EVENT_SOURCE: z._default(nonEmpty(), 'defrr.stripe-connector'),
  });

/** How often an org may ask for a sync by hand. */
export const syncRequestConfig = () =>
  z.object({
    SYNC_MIN_INTERVAL_SECONDS: z._default(integer(0), 300),
  });

/** Where the webhook intake queues verified events and finds the signing secrets. */
export const webhookIntakeConfig = () =>
  z.object({
    WEBHOOK_QUEUE_URL: z.url(),
    WEBHOOK_SECRETS_SECRET_ID: nonEmpty(),
  });
