import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { stopOnSignals } from '../process-lifetime.js';
import { startStripeSandbox } from './server.js';

/** `npm run sandbox`: the offline Stripe alone, on STRIPE_SANDBOX_PORT (default 12111). */
async function main() {
  const port = Number(process.env.STRIPE_SANDBOX_PORT ?? 12111);
  // Besides the manifest's allowed_redirect_uris (stripe-app.json): a local service's callback.
  const redirect = process.env.STRIPE_SANDBOX_REDIRECT_URIS?.split(',')
    .map((uri) => uri.trim())
    .filter(Boolean) ?? [
    'http://localhost:3000/v1/integrations/stripe/callback',
    'http://127.0.0.1:3000/v1/integrations/stripe/callback',
  ];
  const stateFile = process.argv.includes('--memory')
    ? undefined
    : resolve(process.env.DATA_DIR ?? '.data', 'stripe-sandbox-alone.json');
  if (stateFile) mkdirSync(resolve(stateFile, '..'), { recursive: true });
  let sandbox: Awaited<ReturnType<typeof startStripeSandbox>>;
  try {
    sandbox = await startStripeSandbox({
      port,
      allowedRedirectUris: redirect,
      ...(stateFile ? { stateFile } : {}),
    });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      console.error(`Port ${port} is already in use. Stop the other process or set STRIPE_SANDBOX_PORT.`);
      process.exit(1);
    }
    throw error;
  }
  console.log(`Stripe sandbox listening on ${sandbox.url}`);
  console.log(`  app info (dev keys):  ${sandbox.url}/_sandbox/info`);
  console.log(`  redirect URIs:        ${[...sandbox.sandbox.redirectUris].join(', ')}`);
  for (const [link, mode] of sandbox.sandbox.installLinks)
    console.log(
      `  ${mode} install link:    ${sandbox.url}/oauth/v2/${link}/authorize?client_id=${sandbox.sandbox.clientId}&redirect_uri=…`,
    );
  stopOnSignals(() => sandbox.close());
}

main().catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
