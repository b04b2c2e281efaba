import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as z from 'zod/mini';
import { en } from 'zod/v4/locales';

// The sandbox stands alone (it imports none of the service's code): zod/mini loads no
// locale, so it sets English itself, as the service's shared/zod-locale.ts does.
z.config(en());

/**
 * The Stripe app's manifest, `stripe-app.json` at the repository root, in Stripe's own format
 * (https://docs.stripe.com/stripe-apps/reference/app-manifest): the one place that names the
 * app, the permissions a user grants at install and the redirect URIs Stripe allows. The
 * sandbox's install page shows its name and permissions, and its app allows its redirect URIs
 * (plus whatever the process that starts it adds: the local stack's own callback).
 */

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/** A loopback host: `localhost`, 127.0.0.0/8 or [::1]. */
export const isLoopbackHost = (hostname: string) =>
  LOOPBACK_HOSTS.has(hostname) || /^127(\.\d{1,3}){3}$/.test(hostname);

/**
 * An allowed redirect URI: Stripe's schema asks for `http(s)://host/path`; this service asks
 * more: HTTPS, except on a loopback host (a local callback), no credentials, no fragment.
 */
const redirectUri = z.string().check(
  z.regex(/^https?:\/\/.*\/.+/, 'must be an http(s) URL with a path, as Stripe requires'),
  z.refine((value) => {
    try {
      const url = new URL(value);
      if (url.username || url.password || url.hash) return false;
      return url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackHost(url.hostname));
    } catch {
      return false;
    }
  }, 'must be https (http only on a loopback host), without credentials or a fragment'),
);

export const appManifestSchema = z.strictObject({
  /** Stripe: "a globally unique identifier for your app, defined by you". */
  id: z.string().check(z.regex(/^[a-zA-Z0-9_\-.]+$/, 'must be a slug such as com.example.app')),
  version: z.string().check(z.minLength(1)),
  name: z.string().check(z.trim(), z.minLength(1)),
  /** A relative path to a 300×300 PNG (the pattern of Stripe's own manifest schema). */
  icon: z
    .string()
    .check(z.regex(/^\.\/((\.\.\/|[a-zA-Z0-9_/\-\\])[^.]*\.png)$/, 'must be a relative path to a .png')),
  distribution_type: z.enum(['public', 'private']),
  stripe_api_access_type: z.literal('oauth'),
  sandbox_install_compatible: z.optional(z.boolean()),
  allowed_redirect_uris: z.array(redirectUri).check(
    z.minLength(1),
    z.refine((uris) => new Set(uris).size === uris.length, 'must not repeat a URI'),
  ),
  /** The service only reads: every permission is a `_read` one, each with the reason a user sees. */
  permissions: z
    .array(
      z.strictObject({
        permission: z
          .string()
          .check(z.regex(/^[a-z][a-z_]*_read$/, 'must be a read-only (_read) permission')),
        purpose: z.string().check(z.trim(), z.minLength(1)),
      }),
    )
    .check(
      z.minLength(1),
      z.refine(
        (list) => new Set(list.map((p) => p.permission)).size === list.length,
        'must not repeat a permission',
      ),
    ),
});

export type AppManifest = z.infer<typeof appManifestSchema>;

/** The repository root: the nearest directory up from here that holds `stripe-app.json`. */
function repoRoot(): string {
  let dir = __dirname;
  for (;;) {
    if (existsSync(join(dir, 'stripe-app.json')) && existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`stripe-app.json not found above ${__dirname}`);
    dir = parent;
  }
}

export const APP_MANIFEST_PATH = join(repoRoot(), 'stripe-app.json');

/** Reads and validates a manifest; a file that does not pass fails with every problem named. */
export function loadAppManifest(path = APP_MANIFEST_PATH): AppManifest {
  const parsed = appManifestSchema.safeParse(JSON.parse(readFileSync(path, 'utf8')));
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new Error(`${path} is not a valid app manifest:\n  ${problems.join('\n  ')}`);
  }
  return parsed.data;
}

/** `stripe-app.json`, read and validated once. */
export const APP_MANIFEST: AppManifest = loadAppManifest();
