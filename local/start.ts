import { ConfigError } from '../shared/config.js';
import { loadLocalConfig } from './config.js';
import { PortInUseError, startLocalStack } from './stack.js';

/** `npm start`: the whole service on this machine. `--memory` keeps nothing on disk. */
async function main() {
  const memory = process.argv.includes('--memory');
  const config = loadLocalConfig();
  const stack = await startLocalStack(config, { memory });
  console.log(
    `Defrr Stripe connector — local stack${memory ? ' (in memory)' : ` (data in ${config.dataDir})`}`,
  );
  console.log(`  Integration page   ${stack.url}/`);
  console.log(`  API                ${stack.url}/v1/health`);
  console.log(`  Stripe sandbox     ${stack.sandbox.url}  (dev keys: ${stack.sandbox.url}/_sandbox/info)`);
  console.log(`  DynamoDB endpoint  ${stack.dynamo.endpoint}`);
  console.log('  Dev token          npm run --silent token -- --org org_1 --role admin');
  console.log('Press Ctrl+C to stop.');

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: stopping…`);
    const force = setTimeout(() => {
      console.error('Shutdown took too long; exiting.');
      process.exit(1);
    }, 10_000);
    force.unref();
    await stack.close();
    console.log('Stopped.');
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((error: unknown) => {
  if (error instanceof PortInUseError || error instanceof ConfigError) {
    console.error(`Cannot start: ${error.message}`);
  } else {
    console.error('Cannot start:', error instanceof Error ? error.message : error);
  }
  process.exit(1);
});
