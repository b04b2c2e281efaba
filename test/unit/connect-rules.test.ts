import { hashOAuthState, newOAuthState } from '../../shared/connect/oauth-state.js';
import { defaultReturnTo, resolveReturnTo, withOutcome } from '../../shared/connect/return-to.js';

const frontend = {
  FRONTEND_ORIGINS: ['https://app.defrr.example', 'https://staging.defrr.example'],
  FRONTEND_INTEGRATION_PATH: '/settings/stripe',
};

describe('returnTo', () => {
  it('defaults to the integration page on the first origin', () => {
    expect(resolveReturnTo(undefined, frontend)).toBe('https://app.defrr.example/settings/stripe');
    expect(defaultReturnTo(frontend)).toBe('https://app.defrr.example/settings/stripe');
  });

  it('accepts a path, or a URL on any configured origin, dropping the fragment', () => {
    expect(resolveReturnTo('/x?y=1#frag', frontend)).toBe('https://app.defrr.example/x?y=1');
    expect(resolveReturnTo('https://staging.defrr.example/a', frontend)).toBe(
      'https://staging.defrr.example/a',
    );
  });

  it.each([
    'https://evil.example/',
    '//evil.example/x',
    '/\\evil.example',
    'https://app.defrr.example.evil.example/',
    'https://user:pw@app.defrr.example/',
    'javascript:alert(1)',
    'data:text/html,hi',
    'http://app.defrr.example/', // scheme differs: another origin
    `/ok\nLocation: https://evil.example`,
    'relative/path',
    // Schemes whose URL origin is the one inside them.
    'blob:https://app.defrr.example/x',
    'blob:https://app.defrr.example/0f5c2c1e-7d0b-4c6a-9a55-1ad3d9b5c1e2',
    'view-source:https://app.defrr.example/',
    'ws://app.defrr.example/',
    'ftp://app.defrr.example/',
  ])('refuses %j', (value) => {
    expect(() => resolveReturnTo(value, frontend)).toThrow(
      expect.objectContaining({ statusCode: 400, code: 'invalid_return_to' }),
    );
  });

  it('sets the outcome, replacing any outcome already in the URL', () => {
    expect(
      withOutcome('https://app.defrr.example/s?stripe=connected&tab=2', {
        stripe: 'error',
        reason: 'access_denied',
      }),
    ).toBe('https://app.defrr.example/s?tab=2&stripe=error&reason=access_denied');
  });
});

describe('OAuth state', () => {
  it('is 32 random bytes, and only its SHA-256 is kept', () => {
    const a = newOAuthState();
    const b = newOAuthState();
    expect(Buffer.from(a.value, 'base64url')).toHaveLength(32);
    expect(a.value).not.toBe(b.value);
    expect(a.hash).toBe(hashOAuthState(a.value));
    expect(a.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(a.hash).not.toContain(a.value);
  });
});
