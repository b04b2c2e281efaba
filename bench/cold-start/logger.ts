// The floor plus the service's Powertools logger.
import '@aws-sdk/client-dynamodb';
import '@aws-sdk/lib-dynamodb';

export { logger } from '../../shared/logger.js';
