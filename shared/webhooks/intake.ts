import Stripe from 'stripe';
import { type WebhookEvent, type WebhookMessage, webhookEventSchema } from './event.js';

/** Stripe signs at most this much; anything larger is refused before any work. */
export const MAX_WEBHOOK_BYTES = 1024 * 1024;
/** SQS takes 256 KiB; a larger event is queued as a reference and fetched from Stripe. */
export const MAX_INLINE_EVENT_BYTES = 240 * 1024;
export const SIGNATURE_TOLERANCE_SECONDS = 300;

export type { WebhookEvent, WebhookMessage };

export type VerifyResult =
  | { ok: true; event: WebhookEvent }
  | {
      ok: false;
      reason: 'missing_signature' | 'invalid_signature' | 'stale_timestamp' | 'invalid_payload' | 'too_large';
    };

/** The header's signed timestamp (`t=`, unix seconds), or undefined when it has none or several. */
function signedAt(header: string): number | undefined {
  const stamps = header
    .split(',')
    .filter((part) => part.startsWith('t='))
    .map((part) => part.slice(2));
  if (stamps.length !== 1 || !/^\d{1,12}$/.test(stamps[0] as string)) return undefined;
  return Number(stamps[0]);
}

/**
 * Verifies a delivery with stripe-node against every configured endpoint
 * secret (several while one is rolled; test and live endpoints), tolerance
 * 300 s either way: stripe-node refuses a signature older than that, and a
 * timestamp further in the future is refused here (a replay window must not
 * open ahead of time). `raw` must be the body exactly as received (text as API Gateway
 * passed it, or the decoded bytes of a base64 body).
 */
export function verifyWebhook(
  raw: string | Buffer,
  header: string | undefined,
  secrets: readonly string[],
  receivedAtMs?: number,
): VerifyResult {
  if (Buffer.byteLength(raw) > MAX_WEBHOOK_BYTES) return { ok: false, reason: 'too_large' };
  if (!header) return { ok: false, reason: 'missing_signature' };
  const receivedMs = receivedAtMs ?? Date.now();
  const now = Math.floor(receivedMs / 1000);
  const t = signedAt(header);
  if (t === undefined) return { ok: false, reason: 'invalid_signature' };
  if (t > now + SIGNATURE_TOLERANCE_SECONDS) return { ok: false, reason: 'stale_timestamp' };
  for (const secret of secrets) {
    let event: unknown;
    try {
      event = Stripe.webhooks.constructEvent(
        raw,
        header,
        secret,
        SIGNATURE_TOLERANCE_SECONDS,
        undefined,
        receivedMs,
      );
    } catch (error) {
      if (error instanceof SyntaxError) return { ok: false, reason: 'invalid_payload' }; // signed, but not JSON
      continue;
    }
    const parsed = webhookEventSchema.safeParse(event);
    return parsed.success ? { ok: true, event: parsed.data } : { ok: false, reason: 'invalid_payload' };
  }
  return { ok: false, reason: 'invalid_signature' };
}

/**
 * What goes on the queue: the event itself, or a reference when it would not
 * fit. `rawBytes` (the delivery's size) stands in for the message's, which is
 * the same JSON re-serialised without Stripe's indentation.
 */
export function toMessage(event: WebhookEvent, rawBytes: number): WebhookMessage {
  const inline: WebhookMessage = { kind: 'event', event };
  if (rawBytes <= MAX_INLINE_EVENT_BYTES) return inline;
  return {
    kind: 'ref',
    ref: {
      id: event.id,
      account: event.account,
      type: event.type,
      livemode: event.livemode,
      created: event.created,
    },
  };
}
