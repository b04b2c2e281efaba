import * as z from 'zod/mini';
import '../zod-locale.js';

/** The fields of a Stripe event the service relies on (the rest is carried along). */
export const webhookEventSchema = z.looseObject({
  id: z.string().check(z.startsWith('evt_')),
  object: z.literal('event'),
  type: z.string().check(z.minLength(1)),
  created: z.int(),
  livemode: z.boolean(),
  account: z.optional(z.string().check(z.startsWith('acct_'))),
  /** The version that rendered `data.object` (the endpoint's). */
  api_version: z.optional(z.nullable(z.string())),
  // The object is only required to be one: walking its keys (a record schema) was a tenth of the
  // intake's own time per event, and the processor reads its fields through the resource registry.
  data: z.looseObject({
    object: z.custom<Record<string, unknown>>(
      (value) => typeof value === 'object' && value !== null && !Array.isArray(value),
      'expected an object',
    ),
  }),
});
export type WebhookEvent = z.infer<typeof webhookEventSchema>;

export type WebhookMessage =
  | { kind: 'event'; event: WebhookEvent }
  | {
      kind: 'ref';
      ref: { id: string; account?: string | undefined; type: string; livemode: boolean; created: number };
    };
