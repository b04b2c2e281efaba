// The floor plus the service's Powertools logger.
export { DynamoDBClient } from '@aws-sdk/client-dynamodb';
export { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

export { logger } from '../../shared/logger.js';
