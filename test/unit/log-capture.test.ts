import { findSecrets, registerSecret } from '../support/log-capture.js';

describe('the log scanner every test file runs', () => {
  it.each([
    ['an OAuth access token', 'token=sk_test_oauth_0123456789abcdefABCDEF'],
    ['a live secret key', ['sk', 'live', '0123456789abcdefABCDEF'].join('_')],
    ['a refresh token', '"refresh":"rt_0123456789abcdefABCDEF0123456789"'],
    ['an authorization code', 'code=ac_0123456789abcdefABCDEF012345'],
    ['a webhook secret', 'whsec_0123456789abcdefABCDEF'],
    ['an install token', `install=inst_${'Ab9_-'.repeat(8)}xyz`],
  ])('finds %s', (_name, text) => {
    expect(findSecrets(text)).toHaveLength(1);
  });

  it('finds a registered value of any shape, and ignores masked keys', () => {
    registerSecret('opaque-secret-value-42');
    expect(findSecrets('x opaque-secret-value-42 y')).toHaveLength(1);
    expect(findSecrets('Invalid API Key provided: sk_****abcd')).toEqual([]);
  });
});
