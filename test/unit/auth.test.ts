import { generateKeyPair, SignJWT } from 'jose';
import { flattenClaims } from '../../local/api-adapter.js';
import { callerFrom, parseRoles, renderClaim, requireAdmin } from '../../shared/http/auth.js';
import type { HttpEvent } from '../../shared/http/handler.js';

const config = { JWT_ORG_CLAIM: 'org_id', JWT_ROLES_CLAIM: 'roles', JWT_ADMIN_ROLE: 'admin' };

/** A JWT as Defrr's issuer would sign it (the signature is API Gateway's to check, not the function's). */
async function jwt(payload: Record<string, unknown>): Promise<string> {
  const { privateKey } = await generateKeyPair('RS256');
  return new SignJWT(payload)
    .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
    .setIssuer('https://auth.defrr.example/')
    .setSubject('user_1')
    .setAudience('defrr')
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(privateKey);
}

/** The event API Gateway's JWT authorizer builds: the header as sent, the claims as strings. */
function eventFor(token: string, claims: Record<string, unknown>, header = `Bearer ${token}`): HttpEvent {
  return {
    headers: { authorization: header },
    requestContext: { authorizer: { jwt: { claims: flattenClaims(claims), scopes: [] } } },
  } as unknown as HttpEvent;
}

async function callerWithRoles(roles: unknown, header?: (token: string) => string) {
  const payload = { org_id: 'org_1', roles };
  const token = await jwt(payload);
  const claims = JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString());
  return callerFrom(eventFor(token, claims, header?.(token)), config);
}

describe('claims as API Gateway renders them', () => {
  it.each([
    ['admin', 'admin'],
    [['admin', 'member'], '[admin member]'],
    [['Org admin'], '[Org admin]'],
    [1_790_000_000, '1790000000'],
    [true, 'true'],
  ])('%j → %j', (value, rendered) => {
    expect(renderClaim(value)).toBe(rendered);
  });
});

describe('roles from the authorizer claim alone (no token to read them from)', () => {
  it.each([
    ['[admin]', ['admin']],
    ['[member]', ['member']],
    ['admin', ['admin']],
    // Ambiguous: ["admin member"] or ["admin", "member"]? No role.
    ['[admin member]', []],
    ['[Org admin]', []],
    ['[ admin]', []],
    ['[not admin]', []],
    ['[readonly,admin]', ['readonly,admin']],
    ['readonly,admin', ['readonly,admin']],
    ['[]', []],
    ['', []],
    [
      ['admin', 'member'],
      ['admin', 'member'],
    ],
    [undefined, []],
    [42, []],
  ])('%j → %j', (value, roles) => {
    expect(parseRoles(value)).toEqual(roles);
  });
});

describe('roles from the verified token, compared whole', () => {
  it.each([
    [['admin'], true],
    [['member', 'admin'], true],
    ['admin', true],
    [['member'], false],
    [[' admin'], false],
    [['Org admin'], false],
    [['not admin'], false],
    [['readonly,admin'], false],
    [['ADMIN'], false],
    ['admin member', false],
    [[], false],
    [undefined, false],
  ])('roles %j: admin is %s', async (roles, admin) => {
    const caller = await callerWithRoles(roles);
    expect(caller.orgId).toBe('org_1');
    if (admin) expect(requireAdmin(caller, config)).toBe(caller);
    else expect(() => requireAdmin(caller, config)).toThrow('Only an organisation admin may do this.');
  });

  it('takes the header with or without the Bearer scheme, as the authorizer does', async () => {
    expect((await callerWithRoles(['admin', 'member'], (t) => t)).roles).toEqual(['admin', 'member']);
  });

  it('grants no role when the header is not the one token the authorizer verified', async () => {
    const token = await jwt({ org_id: 'org_1', roles: ['Org admin'] });
    const claims = JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString());
    // Two Authorization headers arrive joined by a comma: which one was verified is unknowable.
    const other = await jwt({ org_id: 'org_1', roles: ['Org', 'admin'] });
    expect(callerFrom(eventFor(token, claims, `Bearer ${token},Bearer ${other}`), config).roles).toEqual([]);
    // A token whose claims do not render to the authorizer's (another org's) is not the verified one.
    const otherOrg = await jwt({ org_id: 'org_2', roles: ['admin'] });
    expect(callerFrom(eventFor(otherOrg, { ...claims, roles: ['admin'] }), config).roles).toEqual([]);
    // No header at all: the claim alone, read strictly ("[Org admin]" is ambiguous).
    expect(callerFrom(eventFor(token, claims, ''), config).roles).toEqual([]);
  });
});
