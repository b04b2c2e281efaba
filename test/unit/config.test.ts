import { z } from 'zod';
import { loadLocalConfig } from '../../local/config.js';
import {
  authConfig,
  baseConfig,
  ConfigError,
  frontendConfig,
  parseConfig,
  recordsConfig,
  syncConfig,
} from '../../shared/config.js';

describe('configuration', () => {
  it('names every missing variable', () => {
    const error = (() => {
      try {
        parseConfig([baseConfig(), recordsConfig()], {});
      } catch (e) {
        return e as ConfigError;
      }
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect(error?.message).toContain('SERVICE_TABLE_NAME: missing');
    expect(error?.message).toContain('RECORDS_TABLE_NAME: missing');
    expect(error?.message).toContain('AWS_REGION: missing');
  });

  it('names an invalid variable and says it is invalid', () => {
    expect(() =>
      parseConfig(frontendConfig(), { FRONTEND_ORIGINS: 'not a url', FRONTEND_INTEGRATION_PATH: '/x' }),
    ).toThrow(/FRONTEND_ORIGINS: invalid/);
  });

  it('parses lists and keeps valid values', () => {
    const config = parseConfig(frontendConfig(), {
      FRONTEND_ORIGINS: 'https://app.defrr.example, https://staging.defrr.example',
      FRONTEND_INTEGRATION_PATH: '/settings/integrations/stripe',
    });
    expect(config.FRONTEND_ORIGINS).toEqual(['https://app.defrr.example', 'https://staging.defrr.example']);
  });

  it('gives the local stack embedded defaults, and rejects a bad port by name', () => {
    const config = loadLocalConfig({});
    expect(config).toMatchObject({
      PORT: 3000,
      STRIPE_SANDBOX_PORT: 12111,
      publicUrl: 'http://localhost:3000',
    });
    expect(() => loadLocalConfig({ PORT: 'eighty' })).toThrow(/PORT: invalid/);
    expect(() => loadLocalConfig({ LOCAL_VAULT_KEY: 'c2hvcnQ=' })).toThrow(/LOCAL_VAULT_KEY: invalid/);
  });

  it('parses several parts into one object and reports the problems of every part at once', () => {
    expect(() => parseConfig([baseConfig(), authConfig()], { AWS_REGION: 'eu-west-1' })).toThrow(
      /SERVICE_TABLE_NAME: missing[\s\S]*JWT_ORG_CLAIM: missing/,
    );
    const config = parseConfig([baseConfig(), authConfig()], {
      AWS_REGION: ' eu-west-1 ',
      SERVICE_TABLE_NAME: 'svc',
      RECORDS_TABLE_NAME: 'rec',
      JWT_ORG_CLAIM: 'org_id',
      JWT_ROLES_CLAIM: 'roles',
      JWT_ADMIN_ROLE: 'admin',
      UNRELATED: 'dropped',
    });
    expect(config).toEqual({
      AWS_REGION: 'eu-west-1',
      SERVICE_TABLE_NAME: 'svc',
      JWT_ORG_CLAIM: 'org_id',
      JWT_ROLES_CLAIM: 'roles',
      JWT_ADMIN_ROLE: 'admin',
      RECORDS_SERVICE_SCOPE: 'stripe-connector/records.read',
    });
  });

  it('explains problems in English (zod/mini loads no locale by itself)', () => {
    expect(() => parseConfig(syncConfig(), { EVENT_BUS_NAME: 'bus', SYNC_BUDGET_TEST: '26' })).toThrow(
      /SYNC_BUDGET_TEST: invalid \(Too big: expected number to be <=25\)/,
    );
  });

  it('reports nested issues with the schema path', () => {
    expect(() => parseConfig(z.object({ A: z.string() }), { A: undefined })).toThrow('A: missing');
  });
});
