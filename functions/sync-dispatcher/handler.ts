import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context, ScheduledEvent } from 'aws-lambda';
import { logger } from '../../shared/logger.js';
import { type DispatchDeps, dispatchSyncs } from '../../shared/sync/dispatch.js';

/** The nightly schedule's target: one sync message per connected connection. */
export const makeHandler = (deps: DispatchDeps) =>
  middy<ScheduledEvent, Awaited<ReturnType<typeof dispatchSyncs>>, Error, Context>()
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .handler(() => dispatchSyncs(deps));
