/**
 * The HTTP API's routes, written once: the CDK stack builds API Gateway routes
 * from this list and the local stack's adapter serves the same list. `jwt`
 * routes sit behind the JWT authorizer; their functions still check org and role.
 */
export type HttpFunctionName =
  | 'health'
  | 'connect-start'
  | 'connect-confirm'
  | 'oauth-callback'
  | 'status'
  | 'sync-request'
  | 'disconnect'
  | 'records'
  | 'webhook-intake';
/** Every function of the service: the HTTP ones and the queue/schedule consumers. */
export type FunctionName = HttpFunctionName | 'webhook-processor' | 'sync-dispatcher' | 'sync-worker';

export interface RouteDef {
  method: 'GET' | 'POST' | 'DELETE';
  path: string;
  function: HttpFunctionName;
  auth: 'jwt' | 'public';
  /** Who among the org's users may call a `jwt` route (the function checks it). */
  access?: 'admin' | 'member';
}

export const routes: readonly RouteDef[] = [
  { method: 'GET', path: '/v1/health', function: 'health', auth: 'public' },
  {
    method: 'POST',
    path: '/v1/integrations/stripe/connect',
    function: 'connect-start',
    auth: 'jwt',
    access: 'admin',
  },
  {
    method: 'POST',
    path: '/v1/integrations/stripe/connect/confirm',
    function: 'connect-confirm',
    auth: 'jwt',
    access: 'admin',
  },
  { method: 'GET', path: '/v1/integrations/stripe/callback', function: 'oauth-callback', auth: 'public' },
  {
    method: 'GET',
    path: '/v1/integrations/stripe/status',
    function: 'status',
    auth: 'jwt',
    access: 'member',
  },
  {
    method: 'POST',
    path: '/v1/integrations/stripe/sync',
    function: 'sync-request',
    auth: 'jwt',
    access: 'admin',
  },
  { method: 'DELETE', path: '/v1/integrations/stripe', function: 'disconnect', auth: 'jwt', access: 'admin' },
  {
    method: 'POST',
    path: '/v1/integrations/stripe/connections/{connectionId}/sync',
    function: 'sync-request',
    auth: 'jwt',
    access: 'admin',
  },
  {
    method: 'GET',
    path: '/v1/integrations/stripe/connections/{connectionId}',
    function: 'status',
    auth: 'jwt',
    access: 'member',
  },
  {
    method: 'DELETE',
    path: '/v1/integrations/stripe/connections/{connectionId}',
    function: 'disconnect',
    auth: 'jwt',
    access: 'admin',
  },
  {
    method: 'GET',
    path: '/v1/integrations/stripe/records',
    function: 'records',
    auth: 'jwt',
    access: 'member',
  },
  {
    method: 'GET',
    path: '/v1/integrations/stripe/connections/{connectionId}/records',
    function: 'records',
    auth: 'jwt',
    access: 'member',
  },
  { method: 'POST', path: '/v1/webhooks/stripe', function: 'webhook-intake', auth: 'public' },
];

export const routeKey = (route: RouteDef) => `${route.method} ${route.path}`;
