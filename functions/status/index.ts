import { authConfig, baseConfig, parseConfig } from '../../shared/config.js';
import { connectionStore } from '../../shared/runtime/aws.js';
import { makeHandler } from './handler.js';

const config = parseConfig([baseConfig(), authConfig()]);

export const handler = makeHandler({ store: connectionStore(config), auth: config });
