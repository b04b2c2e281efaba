import { makeHandler } from '../../functions/oauth-callback/handler.js';
import { lambdaContext } from '../../local/lambda-context.js';
import type { HttpEvent } from '../../shared/http/handler.js';
import type { ConnectionStore } from '../../shared/ports/connection-store.js';
import { capturedOutput } from '../support/log-capture.js';

const config = {
  FRONTEND_ORIGINS: ['https://app.defrr.example'],
  FRONTEND_INTEGRATION_PATH: '/stripe',
  TOKEN_SECRET_PREFIX: 'p/',
};
const event = (query: Record<string, string>) =>
  ({
    version: '2.0',
    rawPath: '/cb',
    headers: {},
    queryStringParameters: query,
    requestContext: { http: { method: 'GET' } },
    isBase64Encoded: false,
  }) as unknown as HttpEvent;

describe('the OAuth callback handler', () => {
  it('redirects an unexpected failure with reason=internal and a correlation id that is in the logs — never a 5xx', async () => {
    const store = {
      consumeState: async () => {
        throw new Error('DynamoDB is throttling');
      },
    } as unknown as ConnectionStore;
    const handler = makeHandler({
      store,
      vault: {} as never,
      tokens: {} as never,
      installs: {} as never,
      clock: { now: () => new Date() },
      config,
    });
    const context = lambdaContext('oauth-callback');
    const result = await handler(event({ state: 's', code: 'ac_x' }), context);
    expect(result.statusCode).toBe(302);
    const location = new URL(result.headers.location as string);
    expect(location.origin + location.pathname).toBe('https://app.defrr.example/stripe');
    expect(location.searchParams.get('reason')).toBe('internal');
    expect(location.searchParams.get('ref')).toBe(context.awsRequestId);
    expect(capturedOutput()).toContain(context.awsRequestId);
    expect(result.body).toBe('');
  });

  it('redirects a malformed query with reason=invalid_request', async () => {
    const handler = makeHandler({
      store: {} as never,
      vault: {} as never,
      tokens: {} as never,
      installs: {} as never,
      clock: { now: () => new Date() },
      config,
    });
    const result = await handler(event({ state: 'x'.repeat(5000) }), lambdaContext('oauth-callback'));
    expect(result.statusCode).toBe(302);
    expect(new URL(result.headers.location as string).searchParams.get('reason')).toBe('invalid_request');
  });
});
