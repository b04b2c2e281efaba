// The floor plus everything the handbook's libraries do at an HTTP function's init,
// with none of the service's own modules: a DynamoDB client created, a config part
// parsed with zod/mini, and a middy handler with the Powertools logger.

import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import middy from '@middy/core';
import * as z from 'zod/mini';

const config = z.parse(z.object({ AWS_REGION: z.string().check(z.minLength(1)) }), process.env);
export const client = DynamoDBDocumentClient.from(new DynamoDBClient({ region: config.AWS_REGION }));
const logger = new Logger({ serviceName: 'floor' });
export const handler = middy()
  .use(injectLambdaContext(logger))
  .handler(async () => ({ statusCode: 200, body: '{}' }));
