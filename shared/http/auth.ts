import { decodeJwt } from 'jose';
import { forbidden, HttpError, unauthorized } from '../errors.js';
import type { HttpEvent } from './handler.js';

export interface AuthConfig {
  JWT_ORG_CLAIM: string;
  JWT_ROLES_CLAIM: string;
  JWT_ADMIN_ROLE: string;
  /** See `authConfig`: the scope of Defrr's backend's tokens for the records API. */
  RECORDS_SERVICE_SCOPE?: string;
}

export interface Caller {
  orgId: string;
  userId: string;
  roles: string[];
}

const ORG_ID = /^[A-Za-z0-9_-]{1,64}$/;
/** One compact JWT, with or without the scheme, as API Gateway's JWT authorizer takes the header. */
const SINGLE_JWT = /^(?:Bearer +)?([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$/;

type ClaimValue = string | number | boolean | string[] | undefined;

/**
 * A claim value as API Gateway's HTTP API JWT authorizer renders it for the
 * function: strings as they are, numbers and booleans as text, an array as
 * its elements joined by single spaces inside brackets ("[admin member]").
 */
export function renderClaim(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (Array.isArray(value))
    return `[${value.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))).join(' ')}]`;
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/**
 * Roles from a claim in the form the authorizer hands over, alone: a real
 * array (the local adapter's tests), or a string. The bracketed form cannot
 * tell ["Org admin"] from ["Org", "admin"] (nor [" admin"] from ["", "admin"]),
 * so a bracketed value with a space in it is ambiguous and grants no role; a
 * plain string is one role, compared whole ("readonly,admin" is not "admin").
 */
export function parseRoles(value: unknown): string[] {
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string');
  if (typeof value !== 'string' || value === '') return [];
  if (value.startsWith('[') && value.endsWith(']')) {
    const inner = value.slice(1, -1);
    if (inner === '') return [];
    return inner.includes(' ') ? [] : [inner];
  }
  return [value];
}

/**
 * The roles exactly as the token carries them. API Gateway verified the JWT in
 * the Authorization header before calling the function, so when the header is
 * that one token, its payload holds the real roles array; it counts only if
 * its claims render to exactly what the authorizer passed (same issuer,
 * subject, org and roles). Otherwise the authorizer's claim alone,
 * read strictly (`parseRoles`).
 */
function rolesOf(event: HttpEvent, claims: Record<string, ClaimValue>, config: AuthConfig): string[] {
  const claimed = claims[config.JWT_ROLES_CLAIM];
  if (Array.isArray(claimed)) return parseRoles(claimed);
  const token = SINGLE_JWT.exec(event.headers?.authorization ?? '')?.[1];
  if (!token) return parseRoles(claimed);
  let payload: Record<string, unknown>;
  try {
    payload = decodeJwt(token);
  } catch {
    return [];
  }
  for (const name of ['iss', 'sub', config.JWT_ORG_CLAIM, config.JWT_ROLES_CLAIM]) {
    if (renderClaim(payload[name]) !== renderClaim(claims[name])) return [];
  }
  const roles = payload[config.JWT_ROLES_CLAIM];
  if (typeof roles === 'string') return [roles];
  return Array.isArray(roles) ? roles.filter((r): r is string => typeof r === 'string') : [];
}

/**
 * The caller, from verified JWT claims only (API Gateway's authorizer verified
 * the token): never from the body, the query or another header.
 */
export function callerFrom(event: HttpEvent, config: AuthConfig): Caller {
  const claims = event.requestContext.authorizer?.jwt?.claims;
  if (!claims) throw unauthorized();
  const orgId = claims[config.JWT_ORG_CLAIM];
  if (typeof orgId !== 'string' || !ORG_ID.test(orgId)) {
    throw forbidden('Your token does not name an organisation.');
  }
  const sub = claims.sub;
  return {
    orgId,
    userId: typeof sub === 'string' && sub ? sub : 'unknown',
    roles: rolesOf(event, claims, config),
  };
}

/** Who reads records: a member of one org, or Defrr's backend naming the org it reads. */
export interface RecordsReader {
  orgId: string;
  kind: 'member' | 'service';
}

/**
 * The reader of `GET …/records`. A token that names an org is that org's member's, whatever
 * scopes it carries, and reads that org alone (naming another is 403). A token that names
 * none and carries `RECORDS_SERVICE_SCOPE` (a client-credentials token of Defrr's backend)
 * reads the org it names in `?org=`. Anything else is 403.
 */
export function recordsReaderFrom(
  event: HttpEvent,
  config: AuthConfig,
  askedOrg: string | undefined,
): RecordsReader {
  const claims = event.requestContext.authorizer?.jwt?.claims;
  if (!claims) throw unauthorized();
  if (claims[config.JWT_ORG_CLAIM] === undefined) {
    const scopes = renderClaim(claims.scope ?? claims.scp) ?? '';
    // A scope array reaches us as API Gateway renders it, "[a b]": only that pair of brackets goes.
    const granted = (/^\[(.*)\]$/.exec(scopes)?.[1] ?? scopes).split(' ');
    if (!config.RECORDS_SERVICE_SCOPE || !granted.includes(config.RECORDS_SERVICE_SCOPE))
      throw forbidden('Your token names no organisation and does not carry the records scope.');
    if (askedOrg === undefined)
      throw new HttpError(400, 'org_required', 'Name the organisation whose records to read: ?org=<org id>.');
    if (!ORG_ID.test(askedOrg)) throw new HttpError(400, 'invalid_org', 'That is not an organisation id.');
    return { orgId: askedOrg, kind: 'service' };
  }
  const caller = callerFrom(event, config);
  if (askedOrg !== undefined && askedOrg !== caller.orgId)
    throw forbidden("You can read your own organisation's records only.");
  return { orgId: caller.orgId, kind: 'member' };
}

/** Whole role names, compared exactly. */
export function requireAdmin(caller: Caller, config: AuthConfig): Caller {
  if (!caller.roles.includes(config.JWT_ADMIN_ROLE))
    throw forbidden('Only an organisation admin may do this.');
  return caller;
}
