import { z } from 'zod';
import { loadLocalConfig } from '../../local/config.js';
import { baseConfig, ConfigError, frontendConfig, parseConfig } from '../../shared/config.js';

describe('configuration', () => {
  it('names every missing variable', () => {
    const error = (() => {
      try {
        parseConfig(baseConfig, {});
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
      parseConfig(frontendConfig, { FRONTEND_ORIGINS: 'not a url', FRONTEND_INTEGRATION_PATH: '/x' }),
    ).toThrow(/FRONTEND_ORIGINS: invalid/);
  });

  it('parses lists and keeps valid values', () => {
    const config = parseConfig(frontendConfig, {
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

  it('reports nested issues with the schema path', () => {
    expect(() => parseConfig(z.object({ A: z.string() }), { A: undefined })).toThrow('A: missing');
  });
});
