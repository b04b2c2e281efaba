import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  exportJWK,
  generateKeyPair,
  importJWK,
  type JSONWebKeySet,
  type JWK,
  type JWTPayload,
  SignJWT,
} from 'jose';
import { jwtAuthorizer } from './jwt-authorizer.js';

export const DEV_ISSUER = 'https://dev-issuer.defrr.local';
export const DEV_AUDIENCE = 'defrr-stripe-connector-local';
/** RSA, as API Gateway's JWT authorizer requires of Defrr's real issuer. */
const ALG = 'RS256';

export interface DevIssuer {
  jwks: JSONWebKeySet;
  issue(claims: {
    org?: string;
    roles?: string[];
    sub?: string;
    expiresIn?: string;
    audience?: string;
    /** OAuth2 scopes, space-separated (a client-credentials token of Defrr's backend). */
    scope?: string;
  }): Promise<string>;
  verify(token: string): Promise<JWTPayload>;
}

/**
 * The local stack's identity provider: an RS256 key kept in DATA_DIR (so
 * `npm run token` and the server agree across restarts), a JWKS, and tokens
 * with the same claims Defrr's real issuer puts in them. `verify` is the
 * local stand-in for API Gateway's JWT authorizer (`jwtAuthorizer`).
 */
export async function devIssuer(
  keyFile: string,
  claimNames: { org: string; roles: string },
  issuer = DEV_ISSUER,
  audience = DEV_AUDIENCE,
): Promise<DevIssuer> {
  let privateJwk: JWK | undefined;
  if (existsSync(keyFile)) {
    privateJwk = JSON.parse(readFileSync(keyFile, 'utf8')) as JWK;
    // A key from before dev tokens were RS256 (ES256): make a new one.
    if (privateJwk.alg !== ALG) privateJwk = undefined;
  }
  if (!privateJwk) {
    const { privateKey } = await generateKeyPair(ALG, { extractable: true });
    privateJwk = { ...(await exportJWK(privateKey)), kid: `dev-${Date.now().toString(36)}`, alg: ALG };
    mkdirSync(dirname(keyFile), { recursive: true });
    writeFileSync(keyFile, JSON.stringify(privateJwk), { mode: 0o600 });
  }
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...publicJwk } = privateJwk;
  const signingKey = await importJWK(privateJwk, ALG);
  const jwks: JSONWebKeySet = { keys: [{ ...publicJwk, use: 'sig', alg: ALG }] };
  const authorize = jwtAuthorizer({ jwks, issuer, audiences: [audience] });
  const kid = privateJwk.kid as string;
  return {
    jwks,
    async issue({ org, roles = [], sub = 'user_dev', expiresIn = '1h', audience: aud = audience, scope }) {
      return new SignJWT({
        ...(org ? { [claimNames.org]: org } : {}),
        ...(org || roles.length > 0 ? { [claimNames.roles]: roles } : {}),
        ...(scope ? { scope } : {}),
      })
        .setProtectedHeader({ alg: ALG, kid, typ: 'JWT' })
        .setIssuer(issuer)
        .setAudience(aud)
        .setSubject(sub)
        .setIssuedAt()
        .setExpirationTime(expiresIn)
        .sign(signingKey);
    },
    verify: authorize,
  };
}
