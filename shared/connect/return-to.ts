import { badRequest } from '../errors.js';

export interface FrontendConfig {
  FRONTEND_ORIGINS: string[];
  FRONTEND_INTEGRATION_PATH: string;
}

/** The integration page on the first configured frontend origin. */
export function defaultReturnTo(config: FrontendConfig): string {
  return new URL(config.FRONTEND_INTEGRATION_PATH, config.FRONTEND_ORIGINS[0]).toString();
}

/**
 * Where the browser goes after the callback: a path on the first frontend
 * origin, or a URL on any configured origin. Anything else is refused, so the
 * callback can never be used as an open redirect.
 */
export function resolveReturnTo(input: string | undefined, config: FrontendConfig): string {
  if (input === undefined) return defaultReturnTo(config);
  if (input.length > 2048 || hasControlOrBackslash(input))
    throw badRequest('returnTo is not an allowed location.', 'invalid_return_to');
  const base = config.FRONTEND_ORIGINS[0] as string;
  let url: URL;
  if (input.startsWith('/') && !input.startsWith('//')) {
    url = new URL(input, base);
  } else {
    try {
      url = new URL(input);
    } catch {
      throw badRequest('returnTo must be a path or a URL on the Defrr app.', 'invalid_return_to');
    }
  }
  const allowed = config.FRONTEND_ORIGINS.map((origin) => new URL(origin).origin);
  // `blob:http://app/x` has the origin of the URL inside it: only the web's own schemes count.
  const web = url.protocol === 'https:' || url.protocol === 'http:';
  if (!web || !allowed.includes(url.origin) || url.username || url.password) {
    throw badRequest('returnTo is not an allowed location.', 'invalid_return_to');
  }
  url.hash = '';
  return url.toString();
}

/** Control characters and backslashes make browsers and URL parsers disagree: refuse them. */
function hasControlOrBackslash(value: string): boolean {
  for (const char of value) {
    const code = char.charCodeAt(0);
    if (code < 0x20 || code === 0x7f || char === '\\') return true;
  }
  return false;
}

/** `returnTo` with the outcome in its query (`stripe=confirm&install=…`, or `stripe=error&reason=…`). */
export function withOutcome(returnTo: string, params: Record<string, string>): string {
  const url = new URL(returnTo);
  for (const key of ['stripe', 'reason', 'ref', 'install']) url.searchParams.delete(key);
  for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value);
  return url.toString();
}
