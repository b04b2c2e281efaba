import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  createLocalJWKSet,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JSONWebKeySet,
  type JWK,
  type JWTPayload,
  jwtVerify,
  SignJWT,
} from 'jose';

export const DEV_ISSUER = 'https://dev-issuer.defrr.local';
export const DEV_AUDIENCE = 'defrr-stripe-connector-local';
const ALG = 'ES256';

export interface DevIssuer {
  jwks: JSONWebKeySet;
  issue(claims: {
    org?: string;
    roles?: string[];
    sub?: string;
    expiresIn?: string;
    audience?: string;
  }): Promise<string>;
  verify(token: string): Promise<JWTPayload>;
}

/**
 * The local stack's identity provider: an ES256 key kept in DATA_DIR (so
 * `npm run token` and the server agree across restarts), a JWKS, and tokens
 * with the same claims Defrr's real issuer puts in them.
 */
export async function devIssuer(
  keyFile: string,
  claimNames: { org: string; roles: string },
  issuer = DEV_ISSUER,
  audience = DEV_AUDIENCE,
): Promise<DevIssuer> {
  let privateJwk: JWK;
  if (existsSync(keyFile)) {
    privateJwk = JSON.parse(readFileSync(keyFile, 'utf8')) as JWK;
  } else {
    const { privateKey } = await generateKeyPair(ALG, { extractable: true });
    privateJwk = { ...(await exportJWK(privateKey)), kid: `dev-${Date.now().toString(36)}`, alg: ALG };
    mkdirSync(dirname(keyFile), { recursive: true });
    writeFileSync(keyFile, JSON.stringify(privateJwk), { mode: 0o600 });
  }
  const { d: _private, ...publicJwk } = privateJwk;
  const signingKey = await importJWK(privateJwk, ALG);
  const jwks: JSONWebKeySet = { keys: [{ ...publicJwk, use: 'sig', alg: ALG }] };
  const keySet = createLocalJWKSet(jwks);
  return {
    jwks,
    async issue({ org, roles = [], sub = 'user_dev', expiresIn = '1h', audience: aud = audience }) {
      return new SignJWT({ ...(org ? { [claimNames.org]: org } : {}), [claimNames.roles]: roles })
        .setProtectedHeader({ alg: ALG, kid: privateJwk.kid as string, typ: 'JWT' })
        .setIssuer(issuer)
        .setAudience(aud)
        .setSubject(sub)
        .setIssuedAt()
        .setExpirationTime(expiresIn)
        .sign(signingKey);
    },
    async verify(token) {
      // What API Gateway's JWT authorizer checks: signature (by kid), issuer, audience, exp/nbf.
      const { payload } = await jwtVerify(token, keySet, { issuer, audience, algorithms: [ALG] });
      return payload;
    },
  };
}
