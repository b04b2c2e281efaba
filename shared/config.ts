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

/** Settings every function shares. */
export const baseConfig = z.object({
  SERVICE_TABLE_NAME: nonEmpty,
  RECORDS_TABLE_NAME: nonEmpty,
  AWS_REGION: nonEmpty,
  /** Lets the local stack and moto point the AWS SDK at loopback. Unset in AWS. */
  AWS_ENDPOINT_URL: z.url().optional(),
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
