import {
  createLocalJWKSet,
  decodeProtectedHeader,
  errors,
  type JSONWebKeySet,
  type JWTPayload,
  jwtVerify,
} from 'jose';

/** The algorithms API Gateway's HTTP API JWT authorizer takes: "only RSA-based algorithms". */
export const AUTHORIZER_ALGORITHMS = ['RS256', 'RS384', 'RS512'] as const;

export class JwtRejectedError extends Error {
  override name = 'JwtRejectedError';
}

/**
 * What API Gateway's HTTP API JWT authorizer accepts, and nothing more
 * (docs: "Authorizing API requests with a JWT authorizer"): an RSA signature
 * by the JWKS key the token's `kid` names (a token without `kid` is refused,
 * even when the set has one key), `iss` equal to the configured issuer, `aud`
 * (or, without one, `client_id`) equal to a configured audience, `exp` after
 * now and `nbf` before it.
 */
export function jwtAuthorizer(options: {
  jwks: JSONWebKeySet;
  issuer: string;
  audiences: readonly string[];
}) {
  const keySet = createLocalJWKSet(options.jwks);
  const kids = new Set(options.jwks.keys.map((key) => key.kid).filter(Boolean));
  return async function verify(token: string): Promise<JWTPayload> {
    let header: ReturnType<typeof decodeProtectedHeader>;
    try {
      header = decodeProtectedHeader(token);
    } catch {
      throw new JwtRejectedError('not a JWT');
    }
    if (!header.kid || !kids.has(header.kid)) throw new JwtRejectedError('no key with the token’s kid');
    if (!AUTHORIZER_ALGORITHMS.includes(header.alg as (typeof AUTHORIZER_ALGORITHMS)[number]))
      throw new JwtRejectedError('not an RSA algorithm');
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, keySet, {
        issuer: options.issuer,
        algorithms: [...AUTHORIZER_ALGORITHMS],
        requiredClaims: ['exp'],
      }));
    } catch (error) {
      if (error instanceof errors.JOSEError) throw new JwtRejectedError(error.code);
      throw error;
    }
    const aud = payload.aud;
    const audiences = aud === undefined ? [payload.client_id] : Array.isArray(aud) ? aud : [aud];
    if (!audiences.some((a) => typeof a === 'string' && options.audiences.includes(a)))
      throw new JwtRejectedError('audience not accepted');
    return payload;
  };
}
