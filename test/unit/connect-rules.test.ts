import { startConnect } from '../../shared/connect/connect-service.js';
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

describe('the install link', () => {
  const start = (authorizeUrls: { test?: string; live?: string }, mode: 'test' | 'live') => {
    const states: unknown[] = [];
    return startConnect(
      {
        store: { takeAllowance: async () => true, putState: async (state) => void states.push(state) },
        clock: { now: () => new Date('2026-12-07T12:00:00Z') },
        config: {
          ...frontend,
          STRIPE_CLIENT_ID: 'ca_Configured',
          authorizeUrls,
          STRIPE_DEFAULT_MODE: 'test',
          OAUTH_REDIRECT_URI: 'https://api.defrr.example/v1/integrations/stripe/callback',
          TOKEN_SECRET_PREFIX: 'p/',
        },
      },
      { orgId: 'org_1', userId: 'user_1', roles: ['admin'] } as never,
      { mode },
    ).then(({ authorizeUrl }) => ({ url: new URL(authorizeUrl), states }));
  };

  it('keeps the client id a link copied whole from the Dashboard names (test and live may differ), and fills it in where the link names none', async () => {
    const live = await start(
      { live: 'https://marketplace.stripe.com/oauth/v2/authorize?client_id=ca_LiveApp' },
      'live',
    );
    expect(live.url.searchParams.getAll('client_id')).toEqual(['ca_LiveApp']);
    const test = await start({ test: 'https://marketplace.stripe.com/oauth/v2/chnlink_x/authorize' }, 'test');
    expect(test.url.searchParams.getAll('client_id')).toEqual(['ca_Configured']);
    for (const { url, states } of [live, test]) {
      expect(url.searchParams.get('redirect_uri')).toBe(
        'https://api.defrr.example/v1/integrations/stripe/callback',
      );
      expect(url.searchParams.get('state')).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(states).toHaveLength(1);
    }
  });
});
