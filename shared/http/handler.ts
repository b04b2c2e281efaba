import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { HttpError } from '../errors.js';
import { logger } from '../logger.js';
import { errorBody, type HttpResult, json } from './response.js';

export type HttpEvent = APIGatewayProxyEventV2 & {
  requestContext: APIGatewayProxyEventV2['requestContext'] & {
    authorizer?: {
      jwt?: { claims: Record<string, string | number | boolean | string[]>; scopes?: string[] };
    };
  };
};
export type HttpFunction = (event: HttpEvent, context: Context) => Promise<HttpResult>;

/**
 * Wraps an HTTP function in the service's middy chain: Powertools context
 * injection, then one error handler that turns `HttpError` into the JSON error
 * shape and anything unexpected into a bare 500 (logged, never described).
 */
export function httpHandler(fn: HttpFunction) {
  return middy<HttpEvent, HttpResult>()
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use({
      onError: async (request) => {
        const error = request.error;
        if (error instanceof HttpError && error.expose) {
          request.response = json(error.statusCode, errorBody(error.code, error.message), error.headers);
          return;
        }
        logger.error('unhandled error', { error: describeError(error) });
        request.response = json(500, errorBody('internal', 'Something went wrong. Please try again.'));
      },
    })
    .handler(fn);
}

/** Name and message only: stacks and causes can quote request data. */
export function describeError(error: unknown): { name: string; message: string } {
  if (error instanceof Error) return { name: error.name, message: error.message };
  return { name: 'NonError', message: String(error) };
}
