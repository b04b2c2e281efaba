import { parseArgs } from 'node:util';
import { loadLocalConfig } from './config.js';
import { describeReport, type ReconcileReport } from './reconcile.js';

/**
 * `npm run reconcile -- --org org_1 [--connection test_acct_…]`: asks the running local stack (`npm start`) to compare the
 * org's stored records with the sandbox's own objects, field by field, and prints what is
 * missing, extra or different per resource, and the status counts against the oracle's.
 * Exit status 0 when everything matches, 1 when something differs, 2 when it could not ask.
 */
async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      org: { type: 'string' },
      /** Which of the org's connections (`<mode>_<account id>`); needed when it has several. */
      connection: { type: 'string' },
      url: { type: 'string' },
      json: { type: 'boolean', default: false },
      'ids-only': { type: 'boolean', default: false },
    },
  });
  if (!values.org) throw new Error('--org is required, e.g. npm run reconcile -- --org org_local');
  const config = loadLocalConfig();
  const base = values.url ?? `http://127.0.0.1:${config.PORT}`;
  const query = new URLSearchParams({
    org: values.org,
    ...(values.connection ? { connection: values.connection } : {}),
    ...(values['ids-only'] ? { objects: 'false' } : {}),
  });
  let response: Response;
  try {
    response = await fetch(`${base}/_local/reconcile?${query}`);
  } catch {
    throw new Error(`nothing answers at ${base}: start the local stack first (npm start)`);
  }
  const body = (await response.json()) as ReconcileReport & { error?: { message: string } };
  if (!response.ok) throw new Error(body.error?.message ?? `the local stack answered ${response.status}`);
  process.stdout.write(`${values.json ? JSON.stringify(body, null, 2) : describeReport(body)}\n`);
  return body.ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(2);
  },
);
