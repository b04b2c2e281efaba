import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import * as z from 'zod/mini';
import { logger } from '../../shared/logger.js';
import { metrics } from '../../shared/metrics.js';
import { webhookEventSchema } from '../../shared/webhooks/event.js';
import { type ProcessDeps, processWebhookMessage } from '../../shared/webhooks/process.js';

const messageSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('event'), event: webhookEventSchema }),
  z.object({
    kind: z.literal('ref'),
    ref: z.object({
      id: z.string(),
      account: z.optional(z.string()),
      type: z.string(),
      livemode: z.boolean(),
      created: z.number(),
    }),
  }),
]);

/**
 * The webhook queue's consumer: Powertools batch processing with partial
 * batch failures, so one failing event is retried (then dead-lettered) without
 * holding back the others.
 */
export const makeHandler = (deps: ProcessDeps) => {
  const recordHandler = async (record: SQSRecord) => {
    const message = messageSchema.parse(JSON.parse(record.body));
    return processWebhookMessage(deps, message);
  };
  return middy<SQSEvent, SQSBatchResponse, Error, Context>()
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics))
    .handler((event, context) =>
      // A processor per invocation: it keeps per-batch state, and the local stack runs batches concurrently.
      processPartialResponse(event, recordHandler, new BatchProcessor(EventType.SQS), { context }),
    );
};
