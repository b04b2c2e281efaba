import { z } from 'zod';
import type { FunctionName } from '../shared/http/routes.js';

const list = z.union([
  z.array(z.string().trim().min(1)),
  z
    .string()
    .trim()
    .min(1)
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    ),
]);

/** Real defaults, the same in every stage (each can be overridden). */
export const DEFAULT_SETTINGS = {
  stage: 'dev',
  logRetentionDays: 30,
  frontendIntegrationPath: '/settings/integrations/stripe',
  jwtAudience: 'defrr-stripe-connector',
  jwtOrgClaim: 'org_id',
  jwtRolesClaim: 'roles',
  jwtAdminRole: 'admin',
  recordsServiceScope: 'stripe-connector/records.read',
  stripeAuthorizeUrlLive: 'https://marketplace.stripe.com/oauth/v2/authorize',
  stripeDefaultMode: 'test',
  syncSchedule: 'cron(0 3 * * ? *)',
  eventSource: 'defrr.stripe-connector',
  apiRateLimit: 50,
  apiBurstLimit: 100,
  /**
   * Nightly runs at once (the sync queue's maximum concurrency): 100,000 connections within the
   * hour at 1.55 s a run, with a quarter to spare (docs/benchmarks.md, "The nightly run").
   */
  syncConcurrency: 60,
  /**
   * Workers a large live first backfill is shared out among (the run and its helpers): 80
   * requests of 100 a second is 8,000 records, about what eight workers write
   * (docs/benchmarks.md, "A live backfill shared out"). 1: never shared out.
   */
  syncFanOutWorkers: 8,
} as const;

/** The only stage that gets the placeholders below when nothing else is given. */
export const DEV_STAGE = 'dev';
/**
 * What the `dev` stage synthesises with when nothing is given (`npm run synth`, the tests):
 * placeholders, which any other stage refuses. A real deployment of any stage, dev
 * included, passes the real values.
 */
export const DEV_PLACEHOLDERS = {
  frontendOrigins: 'https://app.dev.defrr.example',
  jwtIssuer: 'https://auth.dev.defrr.example/',
  stripeClientId: 'ca_DefrrDevStageClientIdReplaceMe',
  stripeAuthorizeUrlTest: 'https://marketplace.stripe.com/oauth/v2/chnlink_DefrrDevReplaceMe/authorize',
} as const;

/** The sync worker's memory: the least that buys one full vCPU (1,769 MB). */
export const SYNC_WORKER_MEMORY_MB = 1769;

/** The Lambda event sources' maximum concurrency: reserved concurrency may not be below it. */
export function queueConsumerConcurrency(settings: Pick<Settings, 'syncConcurrency'>) {
  return { 'webhook-processor': 5, 'sync-worker': settings.syncConcurrency } satisfies Partial<
    Record<FunctionName, number>
  >;
}

const concurrency = z.coerce.number().int().min(1).max(1000);
const concurrencyOf = z.number().int().min(1).max(1000);

/**
 * Deployment settings: CDK context (`-c key=value`) first, then the upper-case
 * environment variable, then the defaults above (and, for the dev stage only, its
 * placeholders); validated once. A missing or invalid value fails synth with its
 * name. None of these is a credential: the Stripe app's secret keys and webhook
 * secrets go into their secrets after deploy.
 */
export const settingsSchema = z.object({
  stage: z.string().regex(/^[a-z][a-z0-9-]{1,15}$/, 'lower-case letters, digits and dashes'),
  logRetentionDays: z.coerce.number().int().positive(),
  /** Browser origins allowed by CORS, and where the callback may send the browser back to. */
  frontendOrigins: list.pipe(z.array(z.url()).min(1)),
  frontendIntegrationPath: z.string().startsWith('/'),
  jwtIssuer: z.url(),
  jwtAudience: list.pipe(z.array(z.string()).min(1)),
  jwtOrgClaim: z.string().min(1),
  jwtRolesClaim: z.string().min(1),
  jwtAdminRole: z.string().min(1),
  stripeClientId: z
    .string()
    .regex(/^ca_[A-Za-z0-9]+$/, "the Stripe app's client id, ca_ and letters or digits"),
  stripeAuthorizeUrlTest: z.url().optional(),
  stripeAuthorizeUrlLive: z.url().optional(),
  stripeDefaultMode: z.enum(['test', 'live']),
  /** The callback URL registered in the app manifest; defaults to this API's own URL. */
  oauthRedirectUri: z.url().optional(),
  /** When the nightly sync runs: an EventBridge schedule expression. */
  syncSchedule: z
    .string()
    .regex(/^(cron|rate)\(.+\)$/, 'an EventBridge schedule expression, e.g. cron(0 3 * * ? *)'),
  /** Publish `Stripe Sync Completed` to this existing bus; the service creates its own when unset. */
  eventBusName: z.string().min(1).optional(),
  eventSource: z.string().min(1),
  /**
   * The scope of Defrr's backend's client-credentials tokens (same issuer and audience as
   * users' tokens) that lets them read any org's records, naming it: `GET …/records?org=`.
   */
  recordsServiceScope: z.string().min(1),
  /** Where alarms are mailed (an SNS email subscription); required outside dev. */
  alarmEmail: z.email().optional(),
  /** API Gateway throttling: the stage's default and the tighter per-route limits. */
  apiRateLimit: z.coerce.number().positive(),
  apiBurstLimit: z.coerce.number().int().positive(),
  /** Sync runs at once (the sync queue's maximum concurrency; the worker's reserved concurrency follows). */
  syncConcurrency: z.coerce.number().int().min(2).max(1000),
  /** Workers a large live first backfill is shared out among (1: never). */
  syncFanOutWorkers: z.coerce.number().int().min(1).max(16),
  /**
   * Reserved concurrency per function (`name=N,…`, or an object in context), over the
   * defaults below; `off` reserves none (an account whose concurrency quota is still 10).
   */
  reservedConcurrency: z
    .union([
      z.literal('off'),
      z.record(z.string(), concurrency),
      z
        .string()
        .trim()
        .regex(/^([a-z-]+=\d+)(,\s*[a-z-]+=\d+)*$/, 'off, or name=N pairs, e.g. webhook-intake=50')
        .transform((v) =>
          Object.fromEntries(
            v.split(',').map((pair) => {
              const [name, n] = pair.trim().split('=');
              return [name as string, Number(n)];
            }),
          ),
        )
        .pipe(z.record(z.string(), concurrencyOf)),
    ])
    .optional(),
  /** A custom domain for the API (e.g. stripe.defrr.com): the callback URL then survives replacing the API. */
  domainName: z
    .string()
    .regex(
      /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/,
      'a DNS name, e.g. stripe.defrr.com',
    )
    .optional(),
  /** The ACM certificate for `domainName`, in the stack's own region (a regional endpoint). */
  certificateArn: z
    .string()
    .regex(/^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate\/[0-9a-f-]+$/, 'an ACM certificate ARN')
    .optional(),
});
export type Settings = z.infer<typeof settingsSchema>;

const ENV_NAMES: Record<keyof Settings, string> = {
  stage: 'STAGE',
  logRetentionDays: 'LOG_RETENTION_DAYS',
  frontendOrigins: 'FRONTEND_ORIGINS',
  frontendIntegrationPath: 'FRONTEND_INTEGRATION_PATH',
  jwtIssuer: 'JWT_ISSUER',
  jwtAudience: 'JWT_AUDIENCE',
  jwtOrgClaim: 'JWT_ORG_CLAIM',
  jwtRolesClaim: 'JWT_ROLES_CLAIM',
  jwtAdminRole: 'JWT_ADMIN_ROLE',
  stripeClientId: 'STRIPE_CLIENT_ID',
  stripeAuthorizeUrlTest: 'STRIPE_AUTHORIZE_URL_TEST',
  stripeAuthorizeUrlLive: 'STRIPE_AUTHORIZE_URL_LIVE',
  stripeDefaultMode: 'STRIPE_DEFAULT_MODE',
  oauthRedirectUri: 'OAUTH_REDIRECT_URI',
  syncSchedule: 'SYNC_SCHEDULE',
  eventBusName: 'EVENT_BUS_NAME',
  eventSource: 'EVENT_SOURCE',
  recordsServiceScope: 'RECORDS_SERVICE_SCOPE',
  alarmEmail: 'ALARM_EMAIL',
  apiRateLimit: 'API_RATE_LIMIT',
  apiBurstLimit: 'API_BURST_LIMIT',
  syncConcurrency: 'SYNC_CONCURRENCY',
  syncFanOutWorkers: 'SYNC_FANOUT_WORKERS',
  reservedConcurrency: 'RESERVED_CONCURRENCY',
  domainName: 'DOMAIN_NAME',
  certificateArn: 'CERTIFICATE_ARN',
};

/**
 * Concurrency reserved per function unless settings say otherwise. It caps the public
 * routes (a flood of webhooks or callbacks cannot take the account's whole concurrency
 * from the rest) and guarantees the queue consumers their event sources' maximum
 * concurrency (`queueConsumerConcurrency`). 164 in all: an account keeps at
 * least 100 unreserved, so the default quota of 1,000 has room; a new account whose
 * quota is still 10 deploys with `reservedConcurrency=off`.
 */
export const DEFAULT_RESERVED_CONCURRENCY: Record<FunctionName, number> = {
  health: 2,
  'connect-start': 10,
  'connect-confirm': 10,
  'oauth-callback': 10,
  records: 10,
  status: 20,
  'sync-request': 5,
  disconnect: 5,
  'webhook-intake': 25,
  'webhook-processor': 5,
  'sync-dispatcher': 2,
  'sync-worker': DEFAULT_SETTINGS.syncConcurrency,
};

/**
 * The reserved concurrency each function gets (none when the setting is `off`): the sync
 * worker's follows `syncConcurrency` unless named.
 */
export function reservedConcurrencyOf(settings: Settings): Partial<Record<FunctionName, number>> {
  if (settings.reservedConcurrency === 'off') return {};
  return {
    ...DEFAULT_RESERVED_CONCURRENCY,
    'sync-worker': settings.syncConcurrency,
    ...settings.reservedConcurrency,
  };
}

/**
 * A value no real stage has: a made-up marker (cdk.json's ReplaceMe, CHANGEME, an ellipsis
 * or <…> copied from the README), or a host that is reserved or local (example domains,
 * .example/.invalid/.test/.localhost, localhost, loopback addresses).
 */
export function isPlaceholder(value: string): boolean {
  if (/ReplaceMe/.test(value) || /CHANGE_?ME|\u2026|\.\.\.|<[^>]*>/i.test(value)) return true;
  const hosts: string[] = [];
  try {
    if (/^[a-z]+:\/\//i.test(value)) hosts.push(new URL(value).hostname);
  } catch {
    // not a URL: no host to check
  }
  const at = value.lastIndexOf('@');
  if (at > 0 && !value.includes('://')) hosts.push(value.slice(at + 1));
  return hosts.some((host) => {
    const h = host.toLowerCase().replace(/^\[|\]$/g, '');
    return (
      /(^|\.)example\.(com|org|net)$/.test(h) ||
      /\.(example|invalid|test|localhost)$/.test(h) ||
      h === 'localhost' ||
      /^127\./.test(h) ||
      h === '::1' ||
      h === '0.0.0.0'
    );
  });
}

export function readSettings(
  context: (key: string) => unknown,
  env: Record<string, string | undefined> = process.env,
): Settings {
  const given = (key: string) => context(key) ?? env[ENV_NAMES[key as keyof Settings]];
  const stage = given('stage') ?? DEFAULT_SETTINGS.stage;
  const fallback: Record<string, unknown> = {
    ...DEFAULT_SETTINGS,
    ...(stage === DEV_STAGE ? DEV_PLACEHOLDERS : {}),
  };
  const raw: Record<string, unknown> = {};
  for (const key of Object.keys(ENV_NAMES)) raw[key] = given(key) ?? fallback[key];
  const result = settingsSchema
    .refine((s) => (s.stripeDefaultMode === 'live' ? s.stripeAuthorizeUrlLive : s.stripeAuthorizeUrlTest), {
      message: 'the default mode needs its authorize URL (stripeAuthorizeUrlTest / stripeAuthorizeUrlLive)',
      path: ['stripeDefaultMode'],
    })
    .refine((s) => Boolean(s.domainName) === Boolean(s.certificateArn), {
      message: 'a custom domain needs both domainName and certificateArn',
      path: ['certificateArn'],
    })
    .superRefine((s, ctx) => {
      const unknown = Object.keys(
        s.reservedConcurrency === 'off' ? {} : (s.reservedConcurrency ?? {}),
      ).filter((name) => !(name in DEFAULT_RESERVED_CONCURRENCY));
      if (unknown.length > 0)
        ctx.addIssue({
          code: 'custom',
          path: ['reservedConcurrency'],
          message: `no function ${unknown.join(', ')}`,
        });
      const reserved = reservedConcurrencyOf(s);
      for (const [name, max] of Object.entries(queueConsumerConcurrency(s))) {
        const value = reserved[name as FunctionName];
        if (value !== undefined && value < (max ?? 0))
          ctx.addIssue({
            code: 'custom',
            path: ['reservedConcurrency'],
            message: `${name}=${value} is below its queue's maximum concurrency (${max}): raise it, or reserve none`,
          });
      }
      if (s.stage === DEV_STAGE) return;
      if (!s.alarmEmail)
        ctx.addIssue({
          code: 'custom',
          path: ['alarmEmail'],
          message: `required outside the ${DEV_STAGE} stage: alarms must reach someone`,
        });
      for (const [key, value] of Object.entries(s)) {
        const values = Array.isArray(value) ? value : [value];
        if (values.some((v) => typeof v === 'string' && isPlaceholder(v)))
          ctx.addIssue({
            code: 'custom',
            path: [key],
            message: `a placeholder or local value; stage '${s.stage}' needs the real one`,
          });
      }
    })
    .safeParse(raw);
  if (!result.success) {
    const problems = result.error.issues.map((i) => {
      const key = String(i.path[0]) as keyof Settings;
      return `${key} (context '${key}' or ${ENV_NAMES[key]}): ${i.message}`;
    });
    throw new Error(`Invalid deployment settings:\n  - ${problems.join('\n  - ')}`);
  }
  return result.data;
}
