import { HttpStripeTokenClient } from '../../shared/adapters/stripe/token-client.js';
import { StaticAppCredentials } from '../../shared/ports/app-credentials.js';
import { OAuthGrantError, StripeUnavailableError } from '../../shared/ports/stripe-token-client.js';

const KEY = 'sk_test_unitTokenClientKey000001';
const CODE = 'ac_unitTestCodeValue0000000000001';
const credentials = new StaticAppCredentials({ secretKeys: { test: KEY }, webhookSecrets: [] });

function client(respond: (request: Request, signal?: AbortSignal) => Response | Promise<Response>) {
  const requests: Request[] = [];
  const fetchImpl = (async (input: string | URL | Request, init?: RequestInit) => {
    const request = new Request(input, init);
    requests.push(request.clone());
    // The caller's own signal, held here: a fetch keeps it alive the same way.
    return respond(request, init?.signal ?? undefined);
  }) as typeof fetch;
  return {
    tokens: new HttpStripeTokenClient(credentials, 'https://api.stripe.test', 1000, fetchImpl),
    requests,
  };
}

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

describe('HttpStripeTokenClient', () => {
  it('posts the code with Basic auth of the mode’s key and no client_id, and maps the grant', async () => {
    const { tokens, requests } = client(() =>
      json(200, {
        access_token: 'sk_test_a',
        refresh_token: 'rt_b',
        token_type: 'bearer',
        scope: 'stripe_apps',
        livemode: false,
        stripe_user_id: 'acct_1X',
      }),
    );
    await expect(tokens.exchangeCode('test', CODE)).resolves.toEqual({
      accessToken: 'sk_test_a',
      refreshToken: 'rt_b',
      accountId: 'acct_1X',
      livemode: false,
      scope: 'stripe_apps',
    });
    const [request] = requests;
    expect(request?.url).toBe('https://api.stripe.test/v1/oauth/token');
    expect(request?.headers.get('authorization')).toBe(`Basic ${Buffer.from(`${KEY}:`).toString('base64')}`);
    const form = new URLSearchParams(await request?.text());
    expect(Object.fromEntries(form)).toEqual({ grant_type: 'authorization_code', code: CODE });
  });

  it('accepts account_id instead of stripe_user_id on a refresh', async () => {
    const { tokens } = client(() =>
      json(200, { access_token: 'a', refresh_token: 'b', livemode: false, account_id: 'acct_1Y' }),
    );
    await expect(tokens.refresh('test', 'rt_x')).resolves.toMatchObject({
      accountId: 'acct_1Y',
      scope: 'stripe_apps',
    });
  });

  it('maps invalid_grant (OAuth or API error shape) to OAuthGrantError without quoting the code', async () => {
    const oauth = client(() =>
      json(400, { error: 'invalid_grant', error_description: `Authorization code does not exist: ${CODE}` }),
    );
    const error = await oauth.tokens.exchangeCode('test', CODE).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OAuthGrantError);
    expect((error as OAuthGrantError).code).toBe('invalid_grant');
    expect((error as Error).message).not.toContain(CODE);
    const api = client(() => json(400, { error: { type: 'invalid_request_error', code: 'invalid_grant' } }));
    await expect(api.tokens.exchangeCode('test', CODE)).rejects.toMatchObject({ code: 'invalid_grant' });
    const unauthorised = client(() =>
      json(401, { error: { type: 'invalid_request_error', message: 'Invalid API Key' } }),
    );
    await expect(unauthorised.tokens.exchangeCode('test', CODE)).rejects.toMatchObject({
      code: 'invalid_client',
    });
  });

  it.each([
    ['a 500', () => json(500, { error: { type: 'api_error' } })],
    ['a 429', () => json(429, { error: { type: 'rate_limit' } })],
    ['HTML', () => new Response('<html>', { status: 502 })],
    ['an unexpected shape', () => json(200, { hello: 'world' })],
  ])('maps %s to StripeUnavailableError', async (_name, respond) => {
    await expect(client(respond).tokens.exchangeCode('test', CODE)).rejects.toBeInstanceOf(
      StripeUnavailableError,
    );
  });

  it('gives up after its timeout', async () => {
    const { tokens } = client(
      (_request, signal) =>
        new Promise((_resolve, reject) => {
          signal?.addEventListener('abort', () => reject(signal.reason));
        }),
    );
    await expect(tokens.refresh('test', 'rt_slow')).rejects.toThrow('did not answer within 1000 ms');
  });

  it('refuses a mode with no configured key', async () => {
    await expect(client(() => json(200, {})).tokens.exchangeCode('live', CODE)).rejects.toThrow(
      'no live-mode secret key',
    );
  });
});
