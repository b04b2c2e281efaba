import { randomBytes } from 'node:crypto';
import Stripe from 'stripe';
import type { LocalStack } from '../../local/stack.js';
import { STRIPE_API_VERSION } from '../../shared/stripe/api-version.js';

/** A Stripe event of the shape Stripe sends for installed accounts (top-level `account`). */
export function stripeEvent(
  type: string,
  object: Record<string, unknown>,
  options: { account: string; livemode?: boolean; created?: number; id?: string },
) {
  return {
    id: options.id ?? `evt_${randomBytes(12).toString('hex')}`,
    object: 'event' as const,
    api_version: STRIPE_API_VERSION,
    created: options.created ?? Math.floor(Date.now() / 1000),
    data: { object },
    livemode: options.livemode ?? false,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
    type,
    account: options.account,
  };
}

export function sign(payload: string, secret: string, timestamp?: number): string {
  return Stripe.webhooks.generateTestHeaderString({ payload, secret, ...(timestamp ? { timestamp } : {}) });
}

/** Posts a body to the local webhook endpoint as Stripe would. */
export async function deliver(
  stack: LocalStack,
  body: string | Buffer,
  headers: Record<string, string>,
): Promise<{ status: number; body: string }> {
  const response = await fetch(`${stack.url}/v1/webhooks/stripe`, {
    method: 'POST',
    headers: { 'content-type': 'application/json; charset=utf-8', ...headers },
    body,
  });
  return { status: response.status, body: await response.text() };
}

export async function deliverSigned(
  stack: LocalStack,
  event: object,
  secret = stack.sandbox.sandbox.webhookSecrets[0] as string,
) {
  const payload = JSON.stringify(event);
  return deliver(stack, payload, { 'stripe-signature': sign(payload, secret) });
}
