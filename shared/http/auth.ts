import { forbidden, unauthorized } from '../errors.js';
import type { HttpEvent } from './handler.js';

export interface AuthConfig {
  JWT_ORG_CLAIM: string;
  JWT_ROLES_CLAIM: string;
  JWT_ADMIN_ROLE: string;
}

export interface Caller {
  orgId: string;
  userId: string;
  roles: string[];
}

const ORG_ID = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Roles as API Gateway passes them: an array claim arrives flattened to
 * "[admin member]"; a JSON array or a comma/space-separated string also work.
 */
export function parseRoles(value: unknown): string[] {
  if (Array.isArray(value)) return value.map(String);
  if (typeof value !== 'string') return [];
  const text = value.trim();
  if (text.startsWith('[') && text.endsWith(']')) {
    try {
      const parsed = JSON.parse(text) as unknown;
      if (Array.isArray(parsed)) return parsed.map(String);
    } catch {
      // API Gateway's "[a b]" form
    }
    return text
      .slice(1, -1)
      .split(/[\s,]+/)
      .filter(Boolean);
  }
  return text.split(/[\s,]+/).filter(Boolean);
}

/**
 * The caller, from verified JWT claims only (API Gateway's authorizer verified
 * the token): never from the body, the query or a header.
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
    roles: parseRoles(claims[config.JWT_ROLES_CLAIM]),
  };
}

export function requireAdmin(caller: Caller, config: AuthConfig): Caller {
  if (!caller.roles.includes(config.JWT_ADMIN_ROLE))
    throw forbidden('Only an organisation admin may do this.');
  return caller;
}
