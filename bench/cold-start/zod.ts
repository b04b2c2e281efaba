// The floor plus the status function's configuration, parsed with zod/mini.
import '@aws-sdk/client-dynamodb';
import '@aws-sdk/lib-dynamodb';
import { authConfig, baseConfig, parseConfig } from '../../shared/config.js';

export const config = parseConfig([baseConfig(), authConfig()]);
