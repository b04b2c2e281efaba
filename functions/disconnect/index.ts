import { authConfig, baseConfig, parseConfig } from '../../shared/config.js';
import { systemClock } from '../../shared/ports/clock.js';
import { connectionStore, secretsManager, tokenVault } from '../../shared/runtime/aws.js';
import { makeHandler } from './handler.js';

const config = parseConfig([baseConfig(), authConfig()]);

export const handler = makeHandler({
  store: connectionStore(config),
  vault: tokenVault(secretsManager(config)),
  clock: systemClock,
  auth: config,
});
