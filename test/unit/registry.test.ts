import Stripe from 'stripe';
import { RESOURCES } from '../../shared/records/registry.js';
import { STRIPE_API_VERSION } from '../../shared/stripe/api-version.js';

describe('the resource registry', () => {
  it.each(RESOURCES.map((def) => [def.name, def] as const))(
    '%s lists its events in one request: /v1/events takes at most 20 types',
    (_name, def) => {
      expect(def.eventTypes.length).toBeLessThanOrEqual(20);
      expect(new Set(def.eventTypes).size).toBe(def.eventTypes.length);
    },
  );

  it('only a resource without events may be re-read for changes Stripe sends no event for', () => {
    for (const def of RESOURCES) if (def.unsettled) expect(def.eventTypes).toHaveLength(0);
  });
});

describe('the Stripe API version', () => {
  it('is pinned, and is the one this stripe-node is typed for (an upgrade that moves it fails here)', () => {
    expect(STRIPE_API_VERSION).toMatch(/^\d{4}-\d{2}-\d{2}\.[a-z]+$/);
    expect(STRIPE_API_VERSION).toBe((Stripe as unknown as { API_VERSION: string }).API_VERSION);
  });
});
