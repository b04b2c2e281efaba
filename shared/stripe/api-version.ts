/**
 * The Stripe API version every request of the service asks for (`Stripe-Version`): lists
 * and retrieves render objects at it, so stored objects have one shape. It is the version
 * this stripe-node release is typed for; a test fails when an upgrade of stripe-node moves
 * it, so that a change of shape is a decision (see docs/architecture.md), not a side effect.
 * (No import of stripe-node here: the webhook processor reads it without loading the SDK.)
 */
export const STRIPE_API_VERSION = '2026-10-28.endive';
