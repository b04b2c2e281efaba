import Stripe from 'stripe';
import { STRIPE_API_VERSION } from './api-version.js';

/**
 * Where Stripe is: https://api.stripe.com in production, the sandbox locally.
 * stripe-node's `{ host, port, protocol }` replace every Stripe host.
 */
export function stripeHostOptions(apiBase: string): {
  host: string;
  port: number;
  protocol: 'http' | 'https';
} {
  const url = new URL(apiBase);
  const protocol = url.protocol === 'http:' ? 'http' : 'https';
  return {
    host: url.hostname,
    port: url.port ? Number(url.port) : protocol === 'https' ? 443 : 80,
    protocol,
  };
}

export interface StripeClientOptions {
  apiBase: string;
  timeoutMs: number;
  /** stripe-node's own retries (connection errors, 409, 5xx, Stripe-Should-Retry). */
  maxNetworkRetries: number;
}

/** A stripe-node client acting as one connected account (its access token is the API key). */
export function stripeClient(accessToken: string, options: StripeClientOptions): Stripe {
  return new Stripe(accessToken, {
    apiVersion: STRIPE_API_VERSION as Stripe.LatestApiVersion,
    ...stripeHostOptions(options.apiBase),
    timeout: options.timeoutMs,
    maxNetworkRetries: options.maxNetworkRetries,
    telemetry: false,
    appInfo: { name: 'defrr-stripe-connector' },
  });
}
