import { authConfig, baseConfig, connectConfig, frontendConfig, parseConfig } from '../../shared/config.js';
import { systemClock } from '../../shared/ports/clock.js';
import { connectStartStore } from '../../shared/runtime/aws.js';
import { makeHandler } from './handler.js';

const config = parseConfig([baseConfig(), authConfig(), frontendConfig(), connectConfig()]);

export const handler = makeHandler({
  store: connectStartStore(config),
  clock: systemClock,
  auth: config,
  config: {
    ...config,
    authorizeUrls: { test: config.STRIPE_AUTHORIZE_URL_TEST, live: config.STRIPE_AUTHORIZE_URL_LIVE },
  },
});
