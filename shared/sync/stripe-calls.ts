import Stripe from 'stripe';
import { count, MetricNames } from '../metrics.js';
import type { Budget } from './request-budget.js';

export interface CallOptions {
  budget: Budget;
  maxAttempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  sleep?: (ms: number) => Promise<void>;
  /** Counts every request sent (for the run's metrics and the benchmarks). */
  onRequest?: () => void;
  onRetry?: (reason: string) => void;
}

/** Why a Stripe call can be tried again, or undefined when it cannot. */
export function retryReason(error: unknown): string | undefined {
  if (!(error instanceof Stripe.errors.StripeError)) return undefined;
  const shouldRetry = error.headers?.['stripe-should-retry'];
  if (shouldRetry === 'false') return undefined; // Stripe says it will not work
  if (shouldRetry === 'true') return 'should_retry';
  if (error instanceof Stripe.errors.StripeRateLimitError || error.statusCode === 429) return 'rate_limited';
  if (error instanceof Stripe.errors.StripeConnectionError) return 'connection';
  if ((error.statusCode ?? 0) >= 500 || error.statusCode === 409) return `status_${error.statusCode}`;
  return undefined;
}

/**
 * One Stripe request under the account's budget, retried on 429, 5xx and
 * dropped connections with exponential backoff and full jitter, honouring
 * `Stripe-Should-Retry`. Every attempt goes through the budget.
 */
export async function callStripe<T>(fn: () => Promise<T>, options: CallOptions): Promise<T> {
  const maxAttempts = options.maxAttempts ?? 8;
  const base = options.baseDelayMs ?? 250;
  const cap = options.maxDelayMs ?? 8000;
  const sleep = options.sleep ?? ((ms: number) => new Promise((r) => setTimeout(r, ms)));
  for (let attempt = 1; ; attempt++) {
    await options.budget.acquire();
    options.onRequest?.();
    count(MetricNames.stripeRequests);
    try {
      return await fn();
    } catch (error) {
      const reason = retryReason(error);
      if (!reason || attempt >= maxAttempts) throw error;
      options.onRetry?.(reason);
      count(MetricNames.stripeRetries);
      await sleep(Math.random() * Math.min(cap, base * 2 ** (attempt - 1)));
    }
  }
}
