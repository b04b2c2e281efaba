/**
 * Captures everything a test file logs (Powertools logs included) and, after the file's tests, fails the file if any of it looks like
 * a Stripe secret: an access or secret key, a refresh token, an authorization
 * code or a webhook secret, or any value a test registered with `registerSecret`.
 * Set SHOW_LOGS=1 to also print the captured output.
 */
const captured: string[] = [];
const registered = new Set<string>();

export const SECRET_PATTERNS: RegExp[] = [
  /\b(?:sk|rk)_(?:test|live)_[A-Za-z0-9_]{16,}/,
  /\brt_[A-Za-z0-9]{24,}/,
  /\bac_[A-Za-z0-9]{24,}/,
  /\bwhsec_[A-Za-z0-9_]{16,}/,
  // The one-time install token the callback hands the browser (`?stripe=confirm&install=`).
  /\binst_[A-Za-z0-9_-]{43}/,
];

export function registerSecret(value: string): void {
  if (value.length >= 8) registered.add(value);
}

/** What was written so far in this test file (for tests that assert on logs). */
export function capturedOutput(): string {
  return captured.join('');
}

/** Each console call of this test file so far, parsed when it is a JSON log line (Powertools' records). */
export function capturedRecords(): Array<Record<string, unknown>> {
  const records: Array<Record<string, unknown>> = [];
  for (const entry of captured) {
    const text = entry.trim();
    if (!text.startsWith('{')) continue;
    try {
      records.push(JSON.parse(text) as Record<string, unknown>);
    } catch {
      // not a log record
    }
  }
  return records;
}

export function findSecrets(text: string): string[] {
  const found: string[] = [];
  for (const pattern of SECRET_PATTERNS) {
    const match = text.match(pattern);
    if (match) found.push(`${match[0].slice(0, 10)}… (pattern ${pattern.source})`);
  }
  for (const value of registered)
    if (text.includes(value)) found.push(`${value.slice(0, 6)}… (registered secret)`);
  return found;
}

const show = process.env.SHOW_LOGS === '1';
// Powertools' Logger writes through the global console in dev mode, so its
// output lands here too. (Patching process.stdout would swallow jest's own
// reporter when it runs tests in band.)
process.env.POWERTOOLS_DEV = 'true';
// Dev mode turns metrics off unless told otherwise: tests assert on them.
process.env.POWERTOOLS_METRICS_DISABLED = 'false';
const originalConsole = { ...console };
for (const level of ['log', 'info', 'warn', 'error', 'debug'] as const) {
  console[level] = (...args: unknown[]) => {
    captured.push(`${args.map((a) => (typeof a === 'string' ? a : safeStringify(a))).join(' ')}\n`);
    if (show) originalConsole[level](...args);
  };
}

function safeStringify(value: unknown): string {
  try {
    return value instanceof Error ? `${value.name}: ${value.message}` : JSON.stringify(value);
  } catch {
    return String(value);
  }
}

afterAll(() => {
  const leaks = findSecrets(captured.join(''));
  if (leaks.length > 0) {
    throw new Error(`Secret-looking values reached the logs:\n  ${leaks.join('\n  ')}`);
  }
});
