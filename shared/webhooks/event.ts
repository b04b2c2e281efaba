import { z } from 'zod';

/** The fields of a Stripe event the service relies on (the rest is carried along). */
export const webhookEventSchema = z
  .object({
    id: z.string().startsWith('evt_'),
    object: z.literal('event'),
    type: z.string().min(1),
    created: z.number().int(),
    livemode: z.boolean(),
    account: z.string().startsWith('acct_').optional(),
    data: z.object({ object: z.record(z.string(), z.unknown()) }).loose(),
  })
  .loose();
export type WebhookEvent = z.infer<typeof webhookEventSchema>;

export type WebhookMessage =
  | { kind: 'event'; event: WebhookEvent }
  | {
      kind: 'ref';
      ref: { id: string; account?: string | undefined; type: string; livemode: boolean; created: number };
    };
