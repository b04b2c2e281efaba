import { z } from 'zod';

/*
 * What the service publishes on the event bus for Defrr (EventBridge: `source`
 * `defrr.stripe-connector` by default, `detail-type` as named here), one schema per
 * detail-type. docs/events.schema.json is generated from these (`npm run events:schema`);
 * a unit test keeps it current and the integration tests check what is published against
 * them. Counts and ids only: no Stripe object, token or key.
 */

/** Which connection an event is about: enough to route it and to call the API back. */
const about = {
  orgId: z.string().describe('The Defrr org.'),
  connection: z.string().describe('The connection as the API names it: `<mode>_<account id>`.'),
  accountId: z.string().describe('The Stripe account.'),
  connectionId: z.string().describe('This connection (a reconnect gets a new one).'),
  livemode: z.boolean(),
};
const trigger = z
  .enum(['initial', 'nightly', 'manual', 'webhook', 'continue', 'resume', 'erase'])
  .describe('What started the run.');
const counts = z.record(z.string(), z.number().int().nonnegative());
const error = z.object({
  code: z.string().describe('Stable, for code: `resource_failed`, `stripe_unavailable`, `needs_reauth`, …'),
  message: z.string().describe('For a person: what happened and what to do.'),
  at: z.iso.datetime(),
  resource: z.optional(z.string()).describe('The resource that failed, when one did.'),
});

const actionCounts = z.object({
  added: z.number().int().nonnegative(),
  updated: z.number().int().nonnegative(),
  deleted: z.number().int().nonnegative(),
});
const at = z.iso.datetime();

export const EVENT_SCHEMAS = {
  'Stripe Records Changed': z
    .object({
      ...about,
      source: z.enum(['sync', 'webhook']).describe('Which path wrote: a sync run or a Stripe webhook.'),
      counts: actionCounts.describe('Changes in this batch, all resources together.'),
      resources: z
        .record(z.string(), actionCounts)
        .describe('Changes in this batch per resource (`charges`, `invoices`, …).'),
      cursor: z
        .object({
          after: z.string().describe('Read the records API with `after=` this cursor…'),
          to: z.string().describe('…to reach (at least) this one: the last change of the batch.'),
        })
        .describe("The batch's changes lie after `after` and up to `to` in the connection's feed."),
      at,
    })
    .describe(
      'Records of a connection changed: pull them from GET /v1/integrations/stripe/records. Sent after each batch of writes (a webhook; a sync run at least once a minute and at its end).',
    ),
  'Stripe Sync Completed': z
    .object({
      ...about,
      reason: trigger,
      counts: counts.describe(
        'Records the run wrote per resource: new, changed, or read again at a newer version.',
      ),
      totals: counts.describe('Records stored per resource once it finished.'),
      window: z
        .object({ from: z.iso.datetime(), to: z.iso.datetime() })
        .describe('When the run started and ended.'),
    })
    .describe('A sync run finished with every resource up to date.'),
  'Stripe Sync Failed': z
    .object({
      ...about,
      reason: trigger,
      outcome: z
        .enum(['partial', 'failed'])
        .describe(
          '`partial`: some resources failed, the others are up to date; `failed`: the whole run failed.',
        ),
      retrying: z.boolean().describe('The service retries by itself; false: it waits for the next sync.'),
      errors: z.array(error).min(1),
      at: z.iso.datetime(),
    })
    .describe('A sync run ended without every resource up to date.'),
  'Stripe Connection Needs Reauth': z
    .object({
      ...about,
      message: z.string().describe('What the user should do.'),
      at: z.iso.datetime(),
    })
    .describe("Stripe no longer accepts the connection's grant: the user must reconnect it."),
  'Stripe Connection Connected': z
    .object({ ...about, at })
    .describe('A Stripe account was connected (or reconnected): its first sync is queued.'),
  'Stripe Connection Disconnected': z
    .object({
      ...about,
      erase: z.boolean().describe("The org asked for the connection's records to be erased too."),
      at,
    })
    .describe('The org disconnected Stripe: no more syncs; the records stay unless `erase`.'),
  'Stripe Connection Revoked': z
    .object({ ...about, at })
    .describe('The app was uninstalled in Stripe (or the grant revoked): no more syncs until reconnected.'),
} as const;

export type EventDetailType = keyof typeof EVENT_SCHEMAS;

/** The JSON Schema document of every event (docs/events.schema.json). */
export function eventsJsonSchema(): Record<string, unknown> {
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'Events the Stripe connector publishes (EventBridge `detail`, by `detail-type`)',
    $defs: Object.fromEntries(
      Object.entries(EVENT_SCHEMAS).map(([name, schema]) => [
        name,
        z.toJSONSchema(schema, { target: 'draft-2020-12' }),
      ]),
    ),
  };
}
