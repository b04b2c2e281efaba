import { ConfigError } from '../shared/config.js';
import { loadLocalConfig } from './config.js';
import { stopOnSignals } from './process-lifetime.js';

/** `npm start`: the whole service on this machine. `--memory` keeps nothing on disk. */
async function main() {
  const memory = process.argv.includes('--memory');
  const config = loadLocalConfig();
  // The functions' logger and metrics read these when they load: set them first.
  process.env.POWERTOOLS_LOG_LEVEL ??= config.LOG_LEVEL === 'SILENT' ? 'SILENT' : config.LOG_LEVEL;
  // CloudWatch's metric format is for AWS; locally it would only flood the terminal.
  process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
  // Set by local/invocation.ts once its store exists; inherited from a parent (a test), Powertools
  // would look for that store while the modules load, before there is one.
  delete process.env.AWS_LAMBDA_MAX_CONCURRENCY;
  const { startLocalStack } = await import('./stack.js');
  const stack = await startLocalStack(config, { memory });
  console.log(
    `Defrr Stripe connector — local stack${memory ? ' (in memory)' : ` (data in ${config.dataDir})`}`,
  );
  console.log(`  Integration page   ${stack.url}/`);
  console.log(`  API                ${stack.url}/v1/health`);
  console.log(`  Stripe sandbox     ${stack.sandbox.url}  (dev keys: ${stack.sandbox.url}/_sandbox/info)`);
  console.log(`  DynamoDB endpoint  ${stack.dynamo.endpoint}`);
  // The token script signs with the key kept in DATA_DIR: a stack on another one needs it named.
  const dataDirPrefix = process.env.DATA_DIR ? `DATA_DIR=${JSON.stringify(config.dataDir)} ` : '';
  console.log(
    `  Dev token          ${dataDirPrefix}npm run --silent token -- --org ${config.LOCAL_ORG} --role admin`,
  );
  console.log('Press Ctrl+C to stop.');

  stopOnSignals(async (reason) => {
    console.log(`${reason}: stopping…`);
    await stack.close();
    console.log('Stopped.');
  });
}

main().catch((error: unknown) => {
  // By name: stack.js is loaded lazily (after the environment above is set).
  if ((error instanceof Error && error.name === 'PortInUseError') || error instanceof ConfigError) {
    console.error(`Cannot start: ${error.message}`);
  } else {
    console.error('Cannot start:', error instanceof Error ? error.message : error);
  }
  process.exit(1);
});
