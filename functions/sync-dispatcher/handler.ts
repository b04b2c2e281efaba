import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context, ScheduledEvent } from 'aws-lambda';
import { logger } from '../../shared/logger.js';
import { type DispatchDeps, dispatchSyncs } from '../../shared/sync/dispatch.js';
import { type SweepDeps, sweep } from '../../shared/sync/sweep.js';

/** What the sweep's schedule sends (its rule's fixed input); the nightly rule sends its scheduled event. */
export type SweepEvent = { action: 'sweep' };

/**
 * The schedules' target: the nightly fan-out (one sync message per connected
 * connection), and every few minutes the sweep that finishes or undoes what a
 * crash left half-done.
 */
export const makeHandler = (deps: DispatchDeps & SweepDeps) =>
  middy<ScheduledEvent | SweepEvent, unknown, Error, Context>()
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .handler((event) => ('action' in event && event.action === 'sweep' ? sweep(deps) : dispatchSyncs(deps)));
