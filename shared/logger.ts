import { Logger } from '@aws-lambda-powertools/logger';

/**
 * The one logger. Structured JSON; correlation keys (org, account, event id,
 * sync run) are added with `logger.appendKeys`. Never log an event, a body, a
 * header or a token wholesale: OAuth and webhook payloads carry secrets.
 */
export const logger = new Logger({
  serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'stripe-connector',
  logLevel: (process.env.POWERTOOLS_LOG_LEVEL ?? process.env.LOG_LEVEL ?? 'INFO') as 'INFO',
});
