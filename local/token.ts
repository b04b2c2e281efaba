import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadLocalConfig } from './config.js';
import { devIssuer } from './dev-auth.js';

/**
 * `npm run --silent token -- --org org_1 --role admin`: prints a bearer token
 * the local stack accepts (signed with the dev key in DATA_DIR). `--service`: a token of
 * Defrr's backend instead (client credentials: no org, the records scope), which reads any
 * org's records naming it (`GET /v1/integrations/stripe/records?org=org_1`).
 */
async function main() {
  const { values } = parseArgs({
    options: {
      org: { type: 'string' },
      role: { type: 'string', multiple: true },
      sub: { type: 'string', default: 'user_dev' },
      expires: { type: 'string', default: '8h' },
      service: { type: 'boolean', default: false },
    },
  });
  const config = loadLocalConfig();
  if (values.service) {
    const issuer = await devIssuer(join(config.dataDir, 'dev-jwt-key.json'), {
      org: config.JWT_ORG_CLAIM,
      roles: config.JWT_ROLES_CLAIM,
    });
    process.stdout.write(
      `${await issuer.issue({ sub: 'defrr-backend', scope: config.RECORDS_SERVICE_SCOPE, expiresIn: values.expires })}\n`,
    );
    return;
  }
  if (!values.org) throw new Error('--org is required, e.g. --org org_1 --role admin');
  const roles = values.role ?? ['member'];
  for (const role of roles) {
    if (!['admin', 'member'].includes(role)) throw new Error(`--role must be admin or member, not ${role}`);
  }
  const issuer = await devIssuer(join(config.dataDir, 'dev-jwt-key.json'), {
    org: config.JWT_ORG_CLAIM,
    roles: config.JWT_ROLES_CLAIM,
  });
  process.stdout.write(
    `${await issuer.issue({ org: values.org, roles, sub: values.sub, expiresIn: values.expires })}\n`,
  );
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
