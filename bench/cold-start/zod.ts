// The floor plus the status function's configuration, parsed with zod/mini.
export { DynamoDBClient } from '@aws-sdk/client-dynamodb';
export { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

import { authConfig, baseConfig, parseConfig } from '../../shared/config.js';

export const config = parseConfig([baseConfig(), authConfig()]);
