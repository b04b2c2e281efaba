import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import { JwtRejectedError, jwtAuthorizer } from '../../local/jwt-authorizer.js';

const ISSUER = 'https://auth.defrr.example/';
const AUDIENCE = 'defrr-stripe-connector';

async function keyPair(alg: string, kid: string) {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } as JWK };
}

describe("the local stand-in for API Gateway's JWT authorizer", () => {
  let rsa: Awaited<ReturnType<typeof keyPair>>;
  let ec: Awaited<ReturnType<typeof keyPair>>;
  let verify: ReturnType<typeof jwtAuthorizer>;

  beforeAll(async () => {
    rsa = await keyPair('RS256', 'rsa-1');
    ec = await keyPair('ES256', 'ec-1');
    verify = jwtAuthorizer({ jwks: { keys: [rsa.jwk, ec.jwk] }, issuer: ISSUER, audiences: [AUDIENCE] });
  });

  const token = (
    options: {
      alg?: string;
      kid?: string | null;
      key?: Parameters<SignJWT['sign']>[0];
      iss?: string;
      aud?: string | string[] | null;
      exp?: number;
      nbf?: number;
      extra?: Record<string, unknown>;
    } = {},
  ) => {
    const now = Math.floor(Date.now() / 1000);
    const jwt = new SignJWT({ org_id: 'org_1', ...options.extra })
      .setProtectedHeader({
        alg: options.alg ?? 'RS256',
        ...(options.kid === null ? {} : { kid: options.kid ?? 'rsa-1' }),
      })
      .setIssuer(options.iss ?? ISSUER)
      .setSubject('user_1')
      .setIssuedAt()
      .setExpirationTime(options.exp ?? now + 3600);
    if (options.aud !== null) jwt.setAudience(options.aud ?? AUDIENCE);
    if (options.nbf) jwt.setNotBefore(options.nbf);
    return jwt.sign(options.key ?? rsa.privateKey);
  };

  it('accepts an RS256 token signed by the key its kid names, for the issuer and audience', async () => {
    await expect(verify(await token())).resolves.toMatchObject({ org_id: 'org_1', sub: 'user_1' });
    await expect(verify(await token({ aud: ['other', AUDIENCE] }))).resolves.toBeDefined();
    // No aud: the client_id claim is the audience (as for Cognito access tokens).
    await expect(verify(await token({ aud: null, extra: { client_id: AUDIENCE } }))).resolves.toBeDefined();
  });

  it.each([
    ['ES256, though its key is in the set', () => token({ alg: 'ES256', kid: 'ec-1', key: ec.privateKey })],
    [
      'HS256 with the public key as secret',
      () => token({ alg: 'HS256', key: new TextEncoder().encode(JSON.stringify(rsa.jwk)) }),
    ],
    ['a kid the set does not have', () => token({ kid: 'rsa-2' })],
    ['another issuer', () => token({ iss: 'https://evil.example/' })],
    ['an issuer that differs by a slash', () => token({ iss: 'https://auth.defrr.example' })],
    ['another audience', () => token({ aud: 'another-app' })],
    ['no audience and no client_id', () => token({ aud: null })],
    ['an expired token', () => token({ exp: Math.floor(Date.now() / 1000) - 60 })],
    ['a token not valid yet', () => token({ nbf: Math.floor(Date.now() / 1000) + 600 })],
    [
      'an unsigned token (alg none)',
      async () =>
        `${Buffer.from('{"alg":"none","kid":"rsa-1"}').toString('base64url')}.${Buffer.from(`{"iss":"${ISSUER}","aud":"${AUDIENCE}","exp":9999999999}`).toString('base64url')}.`,
    ],
    ['not a JWT', async () => 'garbage'],
  ])('refuses %s', async (_name, make) => {
    await expect(verify(await make())).rejects.toBeInstanceOf(JwtRejectedError);
  });

  it('refuses a token without kid, even when the set holds only the key that signed it', async () => {
    const one = jwtAuthorizer({ jwks: { keys: [rsa.jwk] }, issuer: ISSUER, audiences: [AUDIENCE] });
    await expect(one(await token())).resolves.toBeDefined();
    await expect(one(await token({ kid: null }))).rejects.toBeInstanceOf(JwtRejectedError);
  });
});

describe('the dev issuer', () => {
  it('signs RS256 with a kid, and publishes only the public key', async () => {
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { decodeProtectedHeader } = await import('jose');
    const { devIssuer } = await import('../../local/dev-auth.js');
    const issuer = await devIssuer(join(mkdtempSync(join(tmpdir(), 'dev-jwt-')), 'key.json'), {
      org: 'org_id',
      roles: 'roles',
    });
    const jwt = await issuer.issue({ org: 'org_1', roles: ['admin'] });
    const header = decodeProtectedHeader(jwt);
    expect(header.alg).toBe('RS256');
    expect(header.kid).toBe(issuer.jwks.keys[0]?.kid);
    expect(Object.keys(issuer.jwks.keys[0] ?? {}).sort()).toEqual(['alg', 'e', 'kid', 'kty', 'n', 'use']);
    await expect(issuer.verify(jwt)).resolves.toMatchObject({ org_id: 'org_1', roles: ['admin'] });
  });
});
