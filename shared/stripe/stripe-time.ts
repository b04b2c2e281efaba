/**
 * The second Stripe answered a request at, from the `Date` header of its response (stripe-node
 * keeps the headers on `lastResponse`); undefined when the answer has none.
 */
export function answeredAt(result: unknown): number | undefined {
  const headers = (result as { lastResponse?: { headers?: Record<string, unknown> } } | null)?.lastResponse
    ?.headers;
  const date = headers?.date;
  if (typeof date !== 'string') return undefined;
  const ms = Date.parse(date);
  return Number.isFinite(ms) ? Math.floor(ms / 1000) : undefined;
}
