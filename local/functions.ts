import { makeHandler as health } from '../functions/health/handler.js';
import type { FunctionName } from '../shared/http/routes.js';
import type { LambdaHttpHandler } from './api-adapter.js';

/**
 * The local stack's composition root for HTTP functions: the same
 * `makeHandler` each Lambda entry calls, given the local adapters.
 */
export function localHttpHandlers(): Record<FunctionName, LambdaHttpHandler> {
  return {
    health: health() as LambdaHttpHandler,
  };
}
