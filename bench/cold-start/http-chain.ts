// The floor plus an HTTP function's middy chain (which includes the logger).
import '@aws-sdk/client-dynamodb';
import '@aws-sdk/lib-dynamodb';
import { httpHandler } from '../../shared/http/handler.js';
import { json } from '../../shared/http/response.js';

export const handler = httpHandler(async () => json(200, {}));
