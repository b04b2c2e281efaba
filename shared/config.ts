import { z } from 'zod';

/**
 * Configuration is read once, at start-up, from the environment and parsed with
 * zod. A missing or invalid variable fails loudly with its name; there are no
 * placeholder defaults for anything that must differ between deployments.
 */
export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(readonly issues: string[]) {
    super(`Invalid configuration:\n  - ${issues.join('\n  - ')}`);
  }
}

export type Env = Record<string, string | undefined>;

export function parseConfig<S extends z.ZodType>(schema: S, env: Env = process.env): z.infer<S> {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => {
    const [name = '(root)', ...rest] = issue.path.map(String);
    const received = env[name] === undefined ? 'missing' : 'invalid';
    const where = rest.length > 0 ? ` at ${rest.join('.')}` : '';
    return `${name}: ${received} (${issue.message}${where})`;
  });
  throw new ConfigError(issues);
}

const nonEmpty = z.string().trim().min(1);
const csv = nonEmpty.transform((value) =>
  value
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean),
);

/** Where AWS is (Lambda sets AWS_REGION). */
export const awsConfig = z.object({
  AWS_REGION: nonEmpty,
  /** Lets tests point the AWS SDK at loopback (moto). Unset in AWS. */
  AWS_ENDPOINT_URL: z.url().optional(),
});

/** Settings every function that touches the tables shares. */
export const baseConfig = awsConfig.extend({
  SERVICE_TABLE_NAME: nonEmpty,
  RECORDS_TABLE_NAME: nonEmpty,
});

/** How verified JWT claims are read (API Gateway's JWT authorizer verifies them). */
export const authConfig = z.object({
  JWT_ORG_CLAIM: nonEmpty,
  JWT_ROLES_CLAIM: nonEmpty,
  JWT_ADMIN_ROLE: nonEmpty,
});

export const frontendConfig = z.object({
  /** Allowed browser origins (CORS) and the origins `returnTo` may point at. */
  FRONTEND_ORIGINS: csv.pipe(z.array(z.url()).min(1)),
  /** Path of the integration page on the first frontend origin. */
  FRONTEND_INTEGRATION_PATH: nonEmpty.startsWith('/'),
});

export { csv as csvSchema, nonEmpty as nonEmptySchema };

const mode = z.enum(['test', 'live']);

/** Where Stripe is and how long to wait for it. */
export const stripeApiConfig = z.object({
  STRIPE_API_BASE: z.url().default('https://api.stripe.com'),
  STRIPE_TIMEOUT_MS: z.coerce.number().int().positive().default(10_000),
  STRIPE_MAX_NETWORK_RETRIES: z.coerce.number().int().min(0).max(5).default(1),
});

/** The Stripe app's OAuth settings (public values: the secrets live in Secrets Manager). */
export const connectConfig = z
  .object({
    STRIPE_CLIENT_ID: nonEmpty.startsWith('ca_'),
    STRIPE_AUTHORIZE_URL_TEST: z.url().optional(),
    STRIPE_AUTHORIZE_URL_LIVE: z.url().optional(),
    STRIPE_DEFAULT_MODE: mode,
    OAUTH_REDIRECT_URI: z.url(),
    TOKEN_SECRET_PREFIX: nonEmpty,
    /** Connect starts per org per 10 minutes (which also caps outstanding OAuth states). */
    CONNECT_LIMIT_PER_10_MINUTES: z.coerce.number().int().positive().default(10),
  })
  .refine((c) => c.STRIPE_AUTHORIZE_URL_TEST ?? c.STRIPE_AUTHORIZE_URL_LIVE, {
    message: 'set STRIPE_AUTHORIZE_URL_TEST and/or STRIPE_AUTHORIZE_URL_LIVE',
    path: ['STRIPE_AUTHORIZE_URL_LIVE'],
  })
  .refine(
    (c) => (c.STRIPE_DEFAULT_MODE === 'live' ? c.STRIPE_AUTHORIZE_URL_LIVE : c.STRIPE_AUTHORIZE_URL_TEST),
    {
      message: 'the default mode needs its authorize URL',
      path: ['STRIPE_DEFAULT_MODE'],
    },
  );

/** What functions that hold tokens need: the app's credentials secret and where connection secrets go. */
export const tokenConfig = z.object({
  APP_CREDENTIALS_SECRET_ID: nonEmpty,
  TOKEN_SECRET_PREFIX: nonEmpty,
  /** The service's KMS key for connection secrets. */
  KMS_KEY_ID: nonEmpty,
});

export const syncQueueConfig = z.object({ SYNC_QUEUE_URL: z.url() });

/** The sync worker's limits and where it announces finished runs. */
export const syncConfig = z.object({
  SYNC_BUDGET_LIVE: z.coerce.number().int().positive().max(100).default(80),
  SYNC_BUDGET_TEST: z.coerce.number().int().positive().max(25).default(20),
  SYNC_MAX_SLICES: z.coerce.number().int().min(1).max(32).default(12),
  EVENT_BUS_NAME: nonEmpty,
  EVENT_SOURCE: nonEmpty.default('defrr.stripe-connector'),
});

/** How often an org may ask for a sync by hand. */
export const syncRequestConfig = z.object({
  SYNC_MIN_INTERVAL_SECONDS: z.coerce.number().int().min(0).default(300),
});
