/**
 * The HTTP API's routes, written once: the CDK stack builds API Gateway routes
 * from this list and the local stack's adapter serves the same list. `jwt`
 * routes sit behind the JWT authorizer; their functions still check org and role.
 */
export type FunctionName = 'health' | 'connect-start' | 'oauth-callback' | 'status' | 'disconnect';

export interface RouteDef {
  method: 'GET' | 'POST' | 'DELETE';
  path: string;
  function: FunctionName;
  auth: 'jwt' | 'public';
}

export const routes: readonly RouteDef[] = [
  { method: 'GET', path: '/v1/health', function: 'health', auth: 'public' },
  { method: 'POST', path: '/v1/integrations/stripe/connect', function: 'connect-start', auth: 'jwt' },
  { method: 'GET', path: '/v1/integrations/stripe/callback', function: 'oauth-callback', auth: 'public' },
  { method: 'GET', path: '/v1/integrations/stripe/status', function: 'status', auth: 'jwt' },
  { method: 'DELETE', path: '/v1/integrations/stripe', function: 'disconnect', auth: 'jwt' },
];

export const routeKey = (route: RouteDef) => `${route.method} ${route.path}`;
