/**
 * API versions as the sandbox renders them. Stripe renders a list or retrieve at the request's
 * `Stripe-Version` (else the account's default), an event's `data.object` at the version that
 * was current when the event was created, and a webhook at its endpoint's version. One change
 * of shape is modelled, a real one: before 2022-11-15 a charge embedded its `refunds` list
 * (Stripe's changelog, "Charge.refunds is no longer expanded by default").
 */

/** The newest version the sandbox knows (what stripe-node 23.1 is typed for). */
export const LATEST_API_VERSION = '2026-10-28.endive';
/** An account that has not moved its default since 2022. */
export const OLD_API_VERSION = '2022-08-01';

const CHARGE_REFUNDS_REMOVED = '2022-11-15';

const day = (version: string) => version.slice(0, 10);

type AnyObject = { id: string; object?: string; [key: string]: unknown };

/** An object as Stripe renders it at `version`. */
export function renderAt<T extends AnyObject>(version: string, object: T): T {
  if (object.object === 'charge' && day(version) < CHARGE_REFUNDS_REMOVED && !('refunds' in object)) {
    return {
      ...object,
      refunds: {
        object: 'list',
        data: [],
        has_more: Number(object.amount_refunded ?? 0) > 0,
        total_count: 0,
        url: `/v1/charges/${object.id}/refunds`,
      },
    };
  }
  return object;
}

/** An event rendered at `version`: its `api_version` and its object's shape. */
export function renderEvent<T extends AnyObject>(event: T, version: string): T {
  const data = event.data as { object: AnyObject; previous_attributes?: unknown };
  return { ...event, api_version: version, data: { ...data, object: renderAt(version, data.object) } };
}

export function isKnownVersion(version: string): boolean {
  return /^\d{4}-\d{2}-\d{2}(\.[a-z]+)?$/.test(version);
}
