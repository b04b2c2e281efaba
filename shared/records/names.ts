/*
 * The resources' names alone, apart from their definitions (registry.ts): an HTTP function
 * that only names resources (a sync request's body, the resources a first sync covers) then
 * loads none of the definitions' code. registry.test.ts checks both list the same, in order.
 */

/** The Stripe resources the service lists, named as Stripe's list endpoints name them, in the registry's order. */
export const LISTED_RESOURCES = [
  'discounts',
  'balance_transactions',
  'charges',
  'refunds',
  'invoices',
  'credit_notes',
  'disputes',
  'customers',
  'products',
  'prices',
  'coupons',
  'payouts',
  'subscriptions',
  'invoice_payments',
  'subscription_schedules',
] as const;
export type ListedResourceName = (typeof LISTED_RESOURCES)[number];

/** Lines kept as records of their own, besides the object that holds them. */
export const LINE_RESOURCE_NAMES = [
  'invoice_line_items',
  'credit_note_line_items',
  'subscription_items',
] as const;
export type LineResourceName = (typeof LINE_RESOURCE_NAMES)[number];

/** Every kind of record the service stores. */
export type ResourceName = ListedResourceName | LineResourceName;

/** Every kind of record stored, listed resources first (counts, the oracle, erase). */
export const RECORD_RESOURCES: readonly ResourceName[] = [...LISTED_RESOURCES, ...LINE_RESOURCE_NAMES];
