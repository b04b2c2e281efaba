import {
  baseConfig,
  frontendConfig,
  parseConfig,
  stripeApiConfig,
  tokenConfig,
} from '../../shared/config.js';
import { systemClock } from '../../shared/ports/clock.js';
import {
  dynamo,
  oauthStateStore,
  pendingInstallStore,
  secretsManager,
  stripeTokenClient,
  tokenVault,
} from '../../shared/runtime/aws.js';
import { makeHandler } from './handler.js';

const config = parseConfig([baseConfig(), frontendConfig(), tokenConfig(), stripeApiConfig()]);
const secrets = secretsManager(config);
const db = dynamo(config);

export const handler = makeHandler({
  store: oauthStateStore(config, db),
  installs: pendingInstallStore(config, db),
  vault: tokenVault(secrets, config.KMS_KEY_ID),
  tokens: stripeTokenClient(secrets, config),
  clock: systemClock,
  config,
});
