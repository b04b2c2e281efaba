import { z } from 'zod';

/**
 * Deployment settings, from CDK context (`-c key=value` or cdk.json) with the
 * environment as a fallback, validated once. A missing or invalid value fails
 * synth with its name.
 */
export const settingsSchema = z.object({
  stage: z.string().regex(/^[a-z][a-z0-9-]{1,15}$/, 'lower-case letters, digits and dashes'),
  logRetentionDays: z.coerce.number().int().positive(),
});
export type Settings = z.infer<typeof settingsSchema>;

const ENV_NAMES: Record<keyof Settings, string> = {
  stage: 'STAGE',
  logRetentionDays: 'LOG_RETENTION_DAYS',
};

export function readSettings(
  context: (key: string) => unknown,
  env: Record<string, string | undefined> = process.env,
): Settings {
  const raw: Record<string, unknown> = {};
  for (const [key, envName] of Object.entries(ENV_NAMES)) raw[key] = context(key) ?? env[envName];
  const result = settingsSchema.safeParse(raw);
  if (!result.success) {
    const problems = result.error.issues.map(
      (i) =>
        `${String(i.path[0])} (context '${String(i.path[0])}' or ${ENV_NAMES[i.path[0] as keyof Settings]}): ${i.message}`,
    );
    throw new Error(`Invalid deployment settings:\n  - ${problems.join('\n  - ')}`);
  }
  return result.data;
}
