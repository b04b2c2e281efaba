import Stripe from 'stripe';

/**
 * The Stripe API version every request of the service asks for (`Stripe-Version`): lists
 * and retrieves render objects at it, so stored objects have one shape. It is the version
 * this stripe-node release is typed for; a test fails when an upgrade of stripe-node moves
 * it, so that a change of shape is a decision (see docs/architecture.md), not a side effect.
 */
export const STRIPE_API_VERSION = '2026-10-28.endive';

/** stripe-node's own pinned version, for that test. */
export const STRIPE_NODE_API_VERSION: string = (Stripe as unknown as { API_VERSION: string }).API_VERSION;
