// The floor plus an HTTP function's middy chain (which includes the logger).
export { DynamoDBClient } from '@aws-sdk/client-dynamodb';
export { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

import { httpHandler } from '../../shared/http/handler.js';
import { json } from '../../shared/http/response.js';

export const handler = httpHandler(async () => json(200, {}));
