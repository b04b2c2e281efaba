import { z } from 'zod';

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

/**
 * Deployment settings, from CDK context (`-c key=value` or cdk.json) with the
 * environment as a fallback, validated once. A missing or invalid value fails
 * synth with its name. None of these is a credential: the Stripe app's secret
 * keys and webhook secrets go into the app-credentials secret after deploy.
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
  stripeClientId: z.string().startsWith('ca_'),
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
  /** Where alarms are mailed (an SNS email subscription); none when unset. */
  alarmEmail: z.email().optional(),
  /** API Gateway throttling: the stage's default and the tighter per-route limits. */
  apiRateLimit: z.coerce.number().positive(),
  apiBurstLimit: z.coerce.number().int().positive(),
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
  alarmEmail: 'ALARM_EMAIL',
  apiRateLimit: 'API_RATE_LIMIT',
  apiBurstLimit: 'API_BURST_LIMIT',
};

export function readSettings(
  context: (key: string) => unknown,
  env: Record<string, string | undefined> = process.env,
): Settings {
  const raw: Record<string, unknown> = {};
  for (const [key, envName] of Object.entries(ENV_NAMES)) raw[key] = context(key) ?? env[envName];
  const result = settingsSchema
    .refine((s) => (s.stripeDefaultMode === 'live' ? s.stripeAuthorizeUrlLive : s.stripeAuthorizeUrlTest), {
      message: 'the default mode needs its authorize URL (stripeAuthorizeUrlTest / stripeAuthorizeUrlLive)',
      path: ['stripeDefaultMode'],
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
