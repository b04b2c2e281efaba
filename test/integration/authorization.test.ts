import type { LocalStack } from '../../local/stack.js';
import { routes } from '../../shared/http/routes.js';
import { onlyConnection } from '../support/connections.js';
import { api, BAKERY_ACCOUNT, connectOrg, startTestStack } from '../support/local-stack.js';

jest.setTimeout(120_000);

let stack: LocalStack;
beforeAll(async () => {
  stack = await startTestStack();
  stack.queues.sync.pause();
});
afterAll(() => stack.close());

const adminRoutes = routes.filter((r) => r.access === 'admin');
const bodyFor = (path: string) => (path.endsWith('/confirm') ? { install: `inst_${'A'.repeat(43)}` } : {});
/** The route's path, naming the org's connection where it takes one. */
const pathOf = (path: string) => path.replace('{connectionId}', `test_${BAKERY_ACCOUNT}`);
let n = 0;

/**
 * Role claims through the local API adapter, which hands them to the
 * functions as API Gateway's JWT authorizer does ("[a b]" strings): only the
 * whole role name `admin` makes an admin, however the roles are spelled.
 */
describe.each([
  [[' admin']],
  [['Org admin']],
  [['not admin']],
  [['readonly,admin']],
  [['Admin']],
  [['admin ']],
  [['member']],
  [[]],
])('roles %j', (roles) => {
  it.each(adminRoutes.map((r) => [`${r.method} ${r.path}`, r] as const))(
    '%s: 403, nothing changed',
    async (_key, route) => {
      const org = `org_roles_${++n}`;
      await connectOrg(stack, org, { account: BAKERY_ACCOUNT });
      const before = await onlyConnection(stack.store, org);
      const token = await stack.issuer.issue({ org, roles, sub: `user_${n}` });
      const response = await api(stack, route.method, pathOf(route.path), {
        token,
        body: bodyFor(route.path),
      });
      expect(response.status).toBe(403);
      expect(response.json).toEqual({
        error: { code: 'forbidden', message: 'Only an organisation admin may do this.' },
      });
      expect(await onlyConnection(stack.store, org)).toEqual(before);
    },
  );
});

describe.each([[['admin']], [['member', 'admin']], [['admin', 'billing owner']]])('roles %j', (roles) => {
  it.each(adminRoutes.map((r) => [`${r.method} ${r.path}`, r] as const))(
    '%s: allowed',
    async (_key, route) => {
      const org = `org_roles_${++n}`;
      await connectOrg(stack, org, { account: BAKERY_ACCOUNT });
      const token = await stack.issuer.issue({ org, roles, sub: `user_${n}` });
      const response = await api(stack, route.method, pathOf(route.path), {
        token,
        body: bodyFor(route.path),
      });
      // Past the role check: what the route itself answers (an unknown install token is 404).
      expect(response.status).not.toBe(403);
      expect(response.status).toBeLessThan(route.path.endsWith('/confirm') ? 500 : 300);
    },
  );
});
