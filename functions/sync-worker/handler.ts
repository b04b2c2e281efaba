import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import * as z from 'zod/mini';
import { logger } from '../../shared/logger.js';
import { metrics } from '../../shared/metrics.js';
import { runErase } from '../../shared/sync/erase.js';
import { runSync, type SyncDeps } from '../../shared/sync/sync-run.js';

const jobSchema = z.object({
  orgId: z.string().check(z.minLength(1)),
  // Messages sent before an org could have several connections name none: its legacy one.
  slot: z.optional(z.string().check(z.minLength(1))),
  connectionId: z.string().check(z.minLength(1)),
  reason: z.enum(['initial', 'manual', 'nightly', 'continue', 'webhook', 'resume', 'erase', 'help']),
  // A helper of a shared-out backfill: which one (`helpBackfill`).
  help: z.optional(
    z.object({
      resource: z.string().check(z.minLength(1)),
      plan: z.string().check(z.minLength(1)),
      owner: z.string().check(z.minLength(1)),
    }),
  ),
});

/**
 * The sync queue's consumer, one connection per message. A run that fails
 * with a passing fault reports its message as failed: SQS retries it, then
 * dead-letters it.
 */
export const makeHandler = (deps: SyncDeps) => {
  return middy<SQSEvent, SQSBatchResponse, Error, Context>()
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics))
    .handler((event, context) => {
      const recordHandler = async (record: SQSRecord) => {
        const job = jobSchema.parse(JSON.parse(record.body));
        const remaining = () => context.getRemainingTimeInMillis();
        return job.reason === 'erase' ? runErase(deps, job, remaining) : runSync(deps, job, remaining);
      };
      return processPartialResponse(event, recordHandler, new BatchProcessor(EventType.SQS), { context });
    });
};
