import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AccountData, Mode } from './account-data.js';
import { isKnownVersion, LATEST_API_VERSION, renderAt, renderEvent } from './api-versions.js';
import { APP_MANIFEST } from './app-manifest.js';
import { accountPage, appPage, errorPage, installedPage, permissionsPage } from './install-page.js';
import {
  invalidRequest,
  listCollection,
  type Params,
  parseListQuery,
  parseParams,
  StripeApiError,
} from './list.js';
import { deletedStub, OBJECT_NAME, RESOURCES, type ResourceName } from './objects.js';
import { prng, randomId } from './random.js';
import {
  ACTIVITY_KINDS,
  type ActivityKind,
  isOAuthError,
  mask,
  type OAuthError,
  Sandbox,
  type SandboxOptions,
} from './sandbox.js';

export interface FaultRule {
  id: string;
  /** `GET /v1/charges`, `GET /v1/charges/:id`, `POST /v1/oauth/token`, or `*`. */
  route: string;
  account?: string;
  /** Only requests whose raw query string contains this (e.g. `test_clock=clock_…`). */
  query?: string;
  /**
   * `403`: Stripe refuses for good (a permission the access lacks). `hold`: the request waits
   * until `until` settles, then is answered as usual (a test's way to order requests without timing).
   */
  kind: 'latency' | 'hold' | '429' | '403' | '500' | 'drop';
  until?: Promise<unknown>;
  /** Probability per matching request (0–1). */
  rate?: number;
  /** Only the Nth matching request (1-based). */
  nth?: number;
  latencyMs?: number;
  /** For 429 and 500: send `Stripe-Should-Retry: true|false`; omitted, no header. */
  shouldRetry?: boolean;
  seen: number;
}

export interface RequestLogEntry {
  at: number;
  method: string;
  route: string;
  path: string;
  /** The raw query string (list parameters: cursors, ranges). */
  query: string;
  account: string | null;
  mode: Mode | null;
  status: number;
  fault?: FaultRule['kind'];
  /** The `Stripe-Version` the request asked for (null: the account's default). */
  stripeVersion: string | null;
}

export interface SandboxServerOptions extends SandboxOptions {
  port?: number;
  host?: string;
  /** Requests per second per account before Stripe-style 429s; off when unset. */
  rateLimits?: Partial<Record<Mode, number>>;
}

export interface StripeSandbox {
  sandbox: Sandbox;
  url: string;
  port: number;
  host: string;
  /** stripe-node options that point the real client at this sandbox. */
  stripeOptions: { host: string; port: number; protocol: 'http' };
  requests: RequestLogEntry[];
  faults: FaultRule[];
  close(): Promise<void>;
}

const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  const text = JSON.stringify(body, null, 2);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'request-id': randomId('req', 14),
    ...headers,
  });
  res.end(text);
};

const html = (res: ServerResponse, status: number, body: string) => {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(body);
};

const MAX_BODY = 1024 * 1024;
async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw invalidRequest('Request body too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

const LIST_FILTERS: Record<ResourceName, readonly string[]> = {
  balance_transactions: ['type', 'source', 'payout', 'currency'],
  charges: ['customer', 'payment_intent', 'transfer_group'],
  refunds: ['charge', 'payment_intent'],
  invoices: ['customer', 'status', 'subscription', 'collection_method', 'due_date'],
  credit_notes: ['customer', 'invoice'],
  disputes: ['charge', 'payment_intent'],
  customers: ['email', 'test_clock'],
  products: ['active', 'shippable', 'url'],
  prices: ['active', 'currency', 'product', 'type', 'lookup_keys'],
  coupons: [],
  payouts: ['status', 'destination', 'arrival_date'],
  // `status` is handled apart (see subscriptionStatus).
  subscriptions: ['customer', 'price', 'status', 'collection_method', 'test_clock'],
  invoice_payments: ['invoice', 'status'],
  subscription_schedules: ['customer'],
};

/** An event as /v1/events shows it: its object in the shape of the version it was created at. */
const atCreation = <T extends { id: string }>(event: T): T => {
  const e = event as unknown as { id: string; api_version?: string | null };
  return renderEvent(e, e.api_version ?? LATEST_API_VERSION) as unknown as T;
};

/** Starts the sandbox's HTTP server; `port: 0` picks a free port. */
export async function startStripeSandbox(options: SandboxServerOptions = {}): Promise<StripeSandbox> {
  const sandbox = new Sandbox(options);
  const requests: RequestLogEntry[] = [];
  const faults: FaultRule[] = [];
  const faultRandom = prng(`${sandbox.seed}|faults`);
  const rateWindows = new Map<string, { second: number; count: number }>();
  const rateLimits = { ...options.rateLimits };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error) => {
      if (res.headersSent) return res.destroy();
      if (error instanceof StripeApiError)
        return json(res, error.statusCode, { error: error.body }, error.headers);
      json(res, 500, { error: { type: 'api_error', message: `Sandbox error: ${(error as Error).message}` } });
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', 'http://sandbox.invalid');
    const method = req.method ?? 'GET';
    const path = url.pathname;
    // Stripe's clock, not the machine's: the service orders what it stores by it.
    res.setHeader('date', new Date(sandbox.nowMs()).toUTCString());
    res.setHeader('stripe-version', LATEST_API_VERSION);

    if (path.startsWith('/_sandbox/')) return control(method, path, url, req, res);
    const authorize = path.match(/^\/oauth\/v2\/(?:(chnlink_[A-Za-z0-9]+)\/)?authorize$/);
    if (authorize) {
      const link = authorize[1];
      if (link === undefined)
        return installFlow(method, url, { mode: 'live', externalTest: false }, req, res);
      const mode = sandbox.installLinks.get(link);
      if (!mode)
        return html(
          res,
          404,
          errorPage('Invalid link', 'This install link does not belong to any Stripe app.'),
        );
      return installFlow(method, url, { mode, externalTest: true }, req, res);
    }
    if (!path.startsWith('/v1/'))
      return json(res, 404, {
        error: { type: 'invalid_request_error', message: `Unrecognized request URL (${method}: ${path}).` },
      });

    const route = routeOf(method, path);
    const entry: RequestLogEntry = {
      at: sandbox.nowMs(),
      method,
      route,
      path,
      query: decodeURIComponent(url.search.replace(/^\?/, '')),
      account: null,
      mode: null,
      status: 0,
      stripeVersion: typeof req.headers['stripe-version'] === 'string' ? req.headers['stripe-version'] : null,
    };
    requests.push(entry);
    res.on('finish', () => {
      entry.status = res.statusCode;
    });
    res.on('close', () => {
      if (!res.writableFinished) entry.status = 0;
    });

    // Who is asking: the app's secret key (OAuth) or an access token (API).
    const auth = req.headers.authorization ?? '';
    let grant: { account: string; mode: Mode } | undefined;
    let appMode: Mode | undefined;
    // Stripe takes a key either way: `Bearer <key>`, or HTTP Basic with the key as the user
    // name and no password (`curl -u sk_…:`).
    const basic = auth.match(/^Basic (.+)$/i);
    const presented = basic
      ? Buffer.from(basic[1] as string, 'base64')
          .toString('utf8')
          .replace(/:$/, '')
      : auth.match(/^Bearer (.+)$/i)?.[1];
    if (route === 'POST /v1/oauth/token') {
      const key = presented;
      appMode = key ? sandbox.modeOfSecretKey(key) : undefined;
      if (!appMode) return unauthorized(res, key);
    } else {
      const key = presented;
      const who = key ? sandbox.authenticate(key) : ({ error: 'invalid' } as const);
      if ('error' in who) {
        return json(res, 401, {
          error: {
            type: 'invalid_request_error',
            ...(who.error === 'expired' ? { code: 'api_key_expired' } : {}),
            message: `${who.error === 'expired' ? 'Expired' : 'Invalid'} API Key provided: ${key ? mask(key) : '(none)'}`,
          },
        });
      }
      grant = who;
      entry.account = who.account;
      entry.mode = who.mode;
    }

    // The rate limit, as Stripe applies it: on arrival, before any work (a slow answer, below,
    // is Stripe's time to answer, after the request was counted).
    if (grant) {
      const limit = rateLimits[grant.mode];
      if (limit !== undefined) {
        const second = Math.floor(entry.at / 1000);
        // Each mode has its own limit (100 live, 25 in test mode).
        const key = `${grant.account}#${grant.mode}`;
        const window = rateWindows.get(key);
        if (!window || window.second !== second) rateWindows.set(key, { second, count: 1 });
        else if (++window.count > limit) {
          return json(res, 429, {
            error: {
              type: 'invalid_request_error',
              code: 'rate_limit',
              message: 'Too many requests hit the API too quickly.',
            },
          });
        }
      }
    }

    // Faults, before any work is done.
    for (const rule of faults) {
      if (rule.route !== '*' && rule.route !== route) continue;
      if (rule.account && rule.account !== entry.account) continue;
      if (rule.query !== undefined && !entry.query.includes(rule.query)) continue;
      rule.seen++;
      const fire = rule.nth !== undefined ? rule.seen === rule.nth : faultRandom() < (rule.rate ?? 1);
      if (!fire) continue;
      entry.fault = rule.kind;
      if (rule.kind === 'latency') {
        await new Promise((resolve) => setTimeout(resolve, rule.latencyMs ?? 300));
        continue;
      }
      if (rule.kind === 'hold') {
        await rule.until?.catch(() => undefined);
        continue;
      }
      if (rule.kind === 'drop') {
        req.socket.destroy();
        return;
      }
      if (rule.kind === '429') {
        return json(
          res,
          429,
          {
            error: {
              type: 'invalid_request_error',
              code: 'rate_limit',
              message: 'Too many requests hit the API too quickly.',
            },
          },
          rule.shouldRetry === undefined ? {} : { 'stripe-should-retry': String(rule.shouldRetry) },
        );
      }
      if (rule.kind === '403')
        return json(res, 403, {
          error: {
            type: 'invalid_request_error',
            message: 'The provided key does not have access to this resource (sandbox fault).',
          },
        });
      // Stripe often says not to retry a 500 (stripe-node: "in most cases"): a fault can say so too.
      return json(
        res,
        500,
        { error: { type: 'api_error', message: 'An unknown error occurred (sandbox fault).' } },
        rule.shouldRetry === undefined ? {} : { 'stripe-should-retry': String(rule.shouldRetry) },
      );
    }
    if (route === 'POST /v1/oauth/token') return token(req, res, appMode as Mode);
    if (method !== 'GET' || !grant) {
      return json(res, 404, {
        error: { type: 'invalid_request_error', message: `Unrecognized request URL (${method}: ${path}).` },
      });
    }
    // Rendered at the version asked for, else the account's default; the answer says which.
    const requested = req.headers['stripe-version'];
    if (typeof requested === 'string' && !isKnownVersion(requested))
      throw invalidRequest(`Invalid Stripe API version: ${requested}`);
    const version = typeof requested === 'string' ? requested : sandbox.apiVersionOf(grant.account);
    res.setHeader('stripe-version', version);
    return read(path, url, grant, res, version);
  }

  function unauthorized(res: ServerResponse, key: string | undefined) {
    return json(res, 401, {
      error: {
        type: 'invalid_request_error',
        message: `Invalid API Key provided: ${key ? mask(key) : '(none)'}`,
      },
    });
  }

  async function token(req: IncomingMessage, res: ServerResponse, mode: Mode) {
    const form = new URLSearchParams(await readBody(req));
    const grantType = form.get('grant_type');
    let result: Record<string, unknown> | OAuthError;
    if (grantType === 'authorization_code') {
      const code = form.get('code');
      if (!code) return json(res, 400, { error: 'invalid_request', error_description: 'No code provided' });
      result = sandbox.exchangeCode(code, mode);
    } else if (grantType === 'refresh_token') {
      const refresh = form.get('refresh_token');
      if (!refresh)
        return json(res, 400, { error: 'invalid_request', error_description: 'No refresh_token provided' });
      result = sandbox.refresh(refresh, mode);
    } else {
      return json(res, 400, {
        error: 'unsupported_grant_type',
        error_description: `Unsupported grant type: ${grantType ?? '(none)'}`,
      });
    }
    return isOAuthError(result) ? json(res, 400, result) : json(res, 200, result);
  }

  function read(
    path: string,
    url: URL,
    grant: { account: string; mode: Mode },
    res: ServerResponse,
    version: string,
  ) {
    const params = parseParams(url.searchParams);
    const data = sandbox.accountData(grant.account, grant.mode);
    if (!data) throw invalidRequest('No such account');
    const segments = path.split('/').slice(2); // after /v1
    const [name, id, sub] = segments;
    if (name === 'account' && segments.length === 1)
      return json(res, 200, sandbox.accountObject(grant.account));
    if (name === 'events') {
      const retained = sandbox.eventsOf(grant.account, grant.mode);
      if (!retained) throw invalidRequest('No such account');
      if (id) {
        const event = retained.data.events.get(id);
        if (!event || event.created < retained.oldest) throw missing('event', id);
        return json(res, 200, atCreation(event));
      }
      const query = parseListQuery(params, ['type', 'types', 'delivery_success']);
      // An event past the 30 days is gone, as a cursor too: Stripe no longer has it, so it is an
      // object it does not have (400 resource_missing on the cursor's parameter), never a page
      // that silently starts at the oldest event it kept.
      const cursorId = query.startingAfter ?? query.endingBefore;
      const cursorEvent = cursorId === undefined ? undefined : retained.data.events.get(cursorId);
      if (cursorId !== undefined && cursorEvent && cursorEvent.created < retained.oldest)
        throw new StripeApiError(400, {
          type: 'invalid_request_error',
          code: 'resource_missing',
          message: `No such event: '${cursorId}'`,
          param: query.startingAfter !== undefined ? 'starting_after' : 'ending_before',
        });
      const types = eventTypes(params);
      const created = { ...query.created, gte: Math.max(query.created.gte ?? 0, retained.oldest) };
      const page = listCollection(
        retained.data.events,
        { ...query, created },
        '/v1/events',
        'event',
        (e) => matchesType(e as unknown as { type: string }, types) && sandbox.eventListed(e.id),
      );
      // An event's object is rendered at the version of the event's creation, not the request's.
      return json(res, 200, { ...page, data: page.data.map(atCreation) });
    }
    if (name === 'test_helpers' && id === 'test_clocks') {
      // Test mode's simulated clocks; live mode has none.
      if (grant.mode === 'live') throw invalidRequest('Test clocks can only be used in test mode.');
      const clockId = segments[2];
      if (clockId !== undefined) {
        const clock = segments.length === 3 ? data.testClocks.get(clockId) : undefined;
        if (!clock || data.testClocks.isRemoved(clockId)) throw missing('test_helpers.test_clock', clockId);
        return json(res, 200, clock);
      }
      const query = parseListQuery(params);
      return json(
        res,
        200,
        listCollection(data.testClocks, query, '/v1/test_helpers/test_clocks', 'test_helpers.test_clock'),
      );
    }
    if (name === 'subscription_items' && segments.length === 1) {
      // A subscription's items, in their own order; Stripe requires the subscription.
      const subscription = params.subscription;
      if (typeof subscription !== 'string' || subscription === '')
        throw invalidRequest('Missing required param: subscription.', 'subscription');
      const items = data.subscriptionItemsOf(subscription);
      if (!items || data.collections.subscriptions.isRemoved(subscription))
        throw missing('subscription', subscription, 'subscription');
      const query = parseListQuery(params, ['subscription']);
      let start = 0;
      if (query.startingAfter) {
        const index = items.findIndex((item) => item.id === query.startingAfter);
        if (index < 0) throw missing('subscription_item', query.startingAfter, 'starting_after');
        start = index + 1;
      }
      return json(res, 200, {
        object: 'list',
        data: items.slice(start, start + query.limit),
        has_more: start + query.limit < items.length,
        url: '/v1/subscription_items',
      });
    }
    const resource = RESOURCES.find((r) => r === name);
    if (!resource)
      throw new StripeApiError(404, {
        type: 'invalid_request_error',
        message: `Unrecognized request URL (GET: ${path}).`,
      });
    const collection = data.collections[resource];
    if (id && sub === 'lines' && (resource === 'invoices' || resource === 'credit_notes')) {
      // An invoice's or credit note's lines, in their own order, as `/lines` pages them.
      const lines: Array<{ id: string }> | undefined = collection.isRemoved(id)
        ? undefined // a deleted draft's lines go with it
        : resource === 'invoices'
          ? data.invoiceLinesOf(id)
          : data.creditNoteLinesOf(id);
      if (!lines) throw missing(OBJECT_NAME[resource], id);
      const query = parseListQuery(params);
      let start = 0;
      if (query.startingAfter) {
        const index = lines.findIndex((line) => line.id === query.startingAfter);
        const lineName = resource === 'invoices' ? 'line_item' : 'credit_note_line_item';
        if (index < 0) throw missing(lineName, query.startingAfter, 'starting_after');
        start = index + 1;
      }
      return json(res, 200, {
        object: 'list',
        data: lines.slice(start, start + query.limit),
        has_more: start + query.limit < lines.length,
        url: `/v1/${resource}/${id}/lines`,
      });
    }
    if (id && segments.length === 2) {
      // A deleted customer still answers, as deleted (Stripe: "unlike other objects"); others are gone.
      if (collection.isRemoved(id)) {
        if (resource === 'customers') return json(res, 200, deletedStub(resource, id));
        throw missing(OBJECT_NAME[resource], id);
      }
      const object = collection.get(id);
      if (!object) throw missing(OBJECT_NAME[resource], id);
      const fields = expansions(params, '');
      return json(res, 200, expand(data, renderAt(version, object), fields, version));
    }
    if (segments.length !== 1)
      throw new StripeApiError(404, {
        type: 'invalid_request_error',
        message: `Unrecognized request URL (GET: ${path}).`,
      });
    const filterKeys = LIST_FILTERS[resource];
    const query = parseListQuery(params, filterKeys);
    // A list by test clock names one that exists (a deleted clock took its objects with it).
    const clock = params.test_clock;
    if (typeof clock === 'string' && (!data.testClocks.get(clock) || data.testClocks.isRemoved(clock)))
      throw missing('test clock', clock, 'test_clock');
    const filters = filterKeys
      .filter((key) => typeof params[key] === 'string')
      .filter((key) => !(resource === 'subscriptions' && (key === 'status' || key === 'price')))
      .map((key) => [key, params[key] as string] as const);
    const own =
      resource === 'subscriptions'
        ? subscriptionFilter(
            params.status as string | undefined,
            params.price as string | undefined,
            // Subscriptions on a test clock are listed only when asked by their clock or customer.
            params.test_clock !== undefined || params.customer !== undefined,
          )
        : resource === 'prices' && params.active === undefined
          ? // Stripe lists active prices only, unless asked for `active=false` (archived ones).
            (object: object) => (object as { active?: unknown }).active !== false
          : resource === 'customers' && params.test_clock === undefined
            ? // Customers on a test clock are listed only when asked for by their clock.
              (object: object) => typeof (object as { test_clock?: unknown }).test_clock !== 'string'
            : undefined;
    const filter =
      filters.length === 0 && !own
        ? undefined
        : (object: object) =>
            // A query is text: `active=true` matches the boolean, `limit`-like numbers their value.
            filters.every(([key, value]) => {
              const field = (object as Record<string, unknown>)[key];
              return field === value || (typeof field !== 'object' && String(field) === value);
            }) &&
            (!own || own(object));
    const page = listCollection(collection, query, `/v1/${resource}`, OBJECT_NAME[resource], filter);
    const fields = expansions(params, 'data.');
    return json(res, 200, {
      ...page,
      data: page.data.map((object) => expand(data, renderAt(version, object), fields, version)),
    });
  }

  /**
   * The app install flow, one screen per step as Stripe shows it: the app's
   * page (GET, the link the connect API hands out) → Select an account →
   * what the app can access → Installation successful, which sends the
   * browser to the redirect URI with the code. Steps are POST forms; every
   * request is checked again (client_id, redirect_uri, step, account), and the
   * code is issued only when Install app is pressed. Cancel, at any step,
   * goes back with access_denied.
   */
  async function installFlow(
    method: string,
    url: URL,
    link: { mode: Mode; externalTest: boolean },
    req: IncomingMessage,
    res: ServerResponse,
  ) {
    // An External test link shows the app's test version, in either mode.
    const testMode = link.externalTest;
    if (method !== 'GET' && method !== 'POST') return html(res, 405, errorPage('Method not allowed', method));
    const params = method === 'POST' ? new URLSearchParams(await readBody(req)) : url.searchParams;
    const clientId = params.get('client_id') ?? '';
    const redirectUri = params.get('redirect_uri') ?? '';
    const state = params.get('state');
    if (clientId !== sandbox.clientId) {
      return html(res, 400, errorPage('Unknown app', 'The client_id does not belong to any Stripe app.'));
    }
    if (!sandbox.redirectUris.has(redirectUri)) {
      return html(
        res,
        400,
        errorPage('Invalid redirect URI', "The redirect_uri is not one of the app's allowed redirect URIs."),
      );
    }
    const mode: Mode = link.mode;
    const flow = {
      appName: sandbox.appName,
      testMode,
      action: url.pathname,
      hidden: { client_id: clientId, redirect_uri: redirectUri, ...(state !== null ? { state } : {}) },
    };
    const accounts = () => [...sandbox.accounts.values()].map(({ id, name }) => ({ id, name }));
    const back = (set: Record<string, string>, withState = true) => {
      const to = new URL(redirectUri);
      for (const [name, value] of Object.entries(set)) to.searchParams.set(name, value);
      if (state !== null && withState) to.searchParams.set('state', state);
      return to.toString();
    };
    if (method === 'GET') return html(res, 200, appPage(flow));

    const step = params.get('step');
    const action = params.get('action');
    const badStep = () =>
      html(res, 400, errorPage('Invalid request', 'This install step is not part of the flow. Start again.'));
    if (step !== 'app' && step !== 'account' && step !== 'permissions') return badStep();
    if (action === 'cancel') {
      res.writeHead(302, {
        // Stripe may leave the state out of a cancel: the sandbox always does (the stricter case).
        location: back({ error: 'access_denied', error_description: 'The user denied your request' }, false),
        'cache-control': 'no-store',
      });
      return res.end();
    }
    if (step === 'app' && action === 'continue')
      return html(res, 200, accountPage({ ...flow, accounts: accounts() }));
    if (step === 'account' && action === 'back') return html(res, 200, appPage(flow));

    const accountId = params.get('account') ?? '';
    if (step === 'account' && action === 'continue' && accountId === '') {
      return html(
        res,
        400,
        accountPage({ ...flow, accounts: accounts(), error: 'Select an account to continue.' }),
      );
    }
    const account = sandbox.accounts.get(accountId);
    if (!account) return html(res, 400, errorPage('Unknown account', 'Pick one of your accounts.'));
    const chosen = { id: account.id, name: account.name };
    if (step === 'account' && action === 'continue')
      return html(res, 200, permissionsPage({ ...flow, account: chosen }));
    if (step === 'permissions' && action === 'back')
      return html(res, 200, accountPage({ ...flow, accounts: accounts(), selected: chosen.id }));
    if (step === 'permissions' && action === 'install') {
      const code = sandbox.install(chosen.id, mode);
      return html(
        res,
        200,
        installedPage({ appName: sandbox.appName, testMode, account: chosen, redirectTo: back({ code }) }),
      );
    }
    return badStep();
  }

  async function control(method: string, path: string, url: URL, req: IncomingMessage, res: ServerResponse) {
    const body = method === 'POST' ? parseJson(await readBody(req)) : {};
    const mode = (value: unknown): Mode => (value === 'live' ? 'live' : 'test');
    const account = (value: unknown): string => {
      if (typeof value !== 'string' || !sandbox.accounts.has(value))
        throw invalidRequest(`Unknown account: ${String(value)}`, 'account');
      return value;
    };
    const key = `${method} ${path}`;
    switch (key) {
      case 'GET /_sandbox/info':
        return json(res, 200, {
          app: {
            id: APP_MANIFEST.id,
            clientId: sandbox.clientId,
            name: sandbox.appName,
            secretKeys: sandbox.secretKeys,
            webhookSecret: sandbox.webhookSecrets[0],
            webhookSecrets: sandbox.allWebhookSecrets(),
          },
          authorizeUrls: {
            test: `${base()}/oauth/v2/chnlink_sandboxtest/authorize`,
            live: `${base()}/oauth/v2/chnlink_sandboxlive/authorize`,
            livePublished: `${base()}/oauth/v2/authorize`,
          },
          // What was seeded (test mode; live is seeded alike), payouts counted.
          accounts: [...sandbox.accounts.values()].map((a) => ({
            id: a.id,
            name: a.name,
            counts: sandbox.accountData(a.id, 'test')?.counts ?? a.counts,
          })),
          redirectUris: [...sandbox.redirectUris],
          webhookEndpoints: sandbox.endpoints,
          now: sandbox.now(),
        });
      case 'POST /_sandbox/oauth/codes':
        return json(res, 200, { code: sandbox.install(account(body.account), mode(body.mode)) });
      case 'POST /_sandbox/uninstall':
        return json(res, 200, { uninstalled: sandbox.uninstall(account(body.account), mode(body.mode)) });
      case 'POST /_sandbox/activity': {
        const kinds: readonly ActivityKind[] = ACTIVITY_KINDS;
        const kind = kinds.find((k) => k === body.kind);
        if (!kind) throw invalidRequest(`kind must be one of ${kinds.join(', ')}`, 'kind');
        const count = Math.min(Math.max(Number(body.count ?? 1) || 1, 1), 10_000);
        const out = { objects: [] as string[], events: [] as string[] };
        for (let i = 0; i < count; i++) {
          const r = sandbox.createActivity(account(body.account), mode(body.mode), kind, {
            ...(typeof body.target === 'string' ? { target: body.target } : {}),
          });
          out.objects.push(...r.objects);
          out.events.push(...r.events);
        }
        return json(res, 200, out);
      }
      case 'POST /_sandbox/faults': {
        const kinds = ['latency', '429', '403', '500', 'drop'] as const;
        const kind = kinds.find((k) => k === String(body.kind));
        if (!kind) throw invalidRequest(`kind must be one of ${kinds.join(', ')}`, 'kind');
        const rule: FaultRule = {
          id: randomId('flt', 10),
          route: typeof body.route === 'string' ? body.route : '*',
          kind,
          seen: 0,
          ...(typeof body.account === 'string' ? { account: body.account } : {}),
          ...(typeof body.query === 'string' ? { query: body.query } : {}),
          ...(typeof body.rate === 'number' ? { rate: body.rate } : {}),
          ...(typeof body.nth === 'number' ? { nth: body.nth } : {}),
          ...(typeof body.latencyMs === 'number' ? { latencyMs: body.latencyMs } : {}),
          ...(typeof body.shouldRetry === 'boolean' ? { shouldRetry: body.shouldRetry } : {}),
        };
        faults.push(rule);
        return json(res, 200, rule);
      }
      case 'DELETE /_sandbox/faults':
        faults.length = 0;
        return json(res, 200, { deleted: true });
      case 'GET /_sandbox/requests': {
        const acct = url.searchParams.get('account');
        const route = url.searchParams.get('route');
        return json(res, 200, {
          data: requests.filter((r) => (!acct || r.account === acct) && (!route || r.route === route)),
        });
      }
      case 'DELETE /_sandbox/requests':
        requests.length = 0;
        return json(res, 200, { deleted: true });
      case 'POST /_sandbox/webhook_endpoints': {
        if (typeof body.url !== 'string' || !/^https?:\/\//.test(body.url))
          throw invalidRequest('url must be an http(s) URL', 'url');
        const endpointMode = body.mode === 'test' || body.mode === 'live' ? body.mode : 'all';
        if (
          body.api_version !== undefined &&
          !(typeof body.api_version === 'string' && isKnownVersion(body.api_version))
        )
          throw invalidRequest('api_version must be an API version such as 2026-10-28.endive', 'api_version');
        // Each endpoint has its own signing secret, as Stripe's do.
        const endpoint = sandbox.addEndpoint(body.url, endpointMode, body.api_version as string | undefined, {
          ownSecret: true,
        });
        return json(res, 200, { ...endpoint, secret: endpoint.secrets?.[0] });
      }
      case 'GET /_sandbox/webhook_deliveries':
        return json(res, 200, { data: sandbox.deliveries });
      case 'POST /_sandbox/webhook_secret/roll':
        return json(res, 200, { secret: sandbox.rollWebhookSecret(), secrets: sandbox.webhookSecrets });
      case 'POST /_sandbox/tokens/expire':
        return json(res, 200, {
          expired: sandbox.expireAccessTokens(typeof body.account === 'string' ? body.account : undefined),
        });
      case 'POST /_sandbox/clock':
        sandbox.advanceClock(Number(body.advanceSeconds) || 0);
        return json(res, 200, { now: sandbox.now() });
      case 'POST /_sandbox/accounts': {
        if (typeof body.id !== 'string' || !/^acct_[A-Za-z0-9]{8,}$/.test(body.id))
          throw invalidRequest('id must look like acct_…', 'id');
        if (sandbox.accounts.has(body.id)) throw invalidRequest(`Account ${body.id} exists`, 'id');
        const counts: Record<string, number> = {};
        for (const resource of RESOURCES) {
          const value = (body.counts as Record<string, unknown> | undefined)?.[resource];
          if (value === undefined) continue;
          if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 1_000_000) {
            throw invalidRequest(
              `counts.${resource} must be an integer from 0 to 1,000,000`,
              `counts.${resource}`,
            );
          }
          counts[resource] = value;
        }
        sandbox.addAccount({
          id: body.id,
          name: typeof body.name === 'string' ? body.name : body.id,
          counts,
        });
        const added = sandbox.accounts.get(body.id);
        return json(res, 200, { id: added?.id, name: added?.name, counts: added?.counts });
      }
      case 'POST /_sandbox/redirect_uris':
        if (typeof body.uri !== 'string') throw invalidRequest('uri is required', 'uri');
        sandbox.redirectUris.add(body.uri);
        return json(res, 200, { redirectUris: [...sandbox.redirectUris] });
      case 'POST /_sandbox/rate_limits':
        for (const m of ['test', 'live'] as const) {
          if (typeof body[m] === 'number') rateLimits[m] = body[m] as number;
          if (body[m] === null) delete rateLimits[m];
        }
        return json(res, 200, rateLimits);
    }
    const endpointDelete = path.match(/^\/_sandbox\/webhook_endpoints\/(we_[A-Za-z0-9]+)$/);
    if (method === 'DELETE' && endpointDelete)
      return json(res, 200, { deleted: sandbox.removeEndpoint(endpointDelete[1] as string) });
    return json(res, 404, { error: { type: 'invalid_request_error', message: `No sandbox control ${key}` } });
  }

  function base() {
    return `http://${host}:${port}`;
  }

  // Idle connections stay open longer than a client's pool keeps them (Node's 5 s default did
  // not): a client that reuses one just as the server drops it gets ECONNRESET, which a test's
  // in-process work holding the event loop for seconds made happen (fetch failed in CI).
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  const host = options.host ?? '127.0.0.1';
  server.listen(options.port ?? 12111, host);
  await Promise.race([
    once(server, 'listening'),
    once(server, 'error').then(([error]) => {
      throw error;
    }),
  ]);
  const port = (server.address() as AddressInfo).port;
  return {
    sandbox,
    url: base(),
    port,
    host,
    stripeOptions: { host, port, protocol: 'http' },
    requests,
    faults,
    async close() {
      await sandbox.close();
      server.closeAllConnections();
      server.close();
      await once(server, 'close').catch(() => undefined);
    },
  };
}

function parseJson(text: string): Record<string, unknown> {
  if (text.trim() === '') return {};
  try {
    const value = JSON.parse(text) as unknown;
    if (typeof value === 'object' && value !== null && !Array.isArray(value))
      return value as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw invalidRequest('The body must be a JSON object');
}

/**
 * Stripe's subscription list: without `status` it leaves out canceled subscriptions (they are
 * listed with `status=canceled` or `status=all` only); `price` matches any of its items.
 */
function subscriptionFilter(status: string | undefined, price: string | undefined, clocks: boolean) {
  return (object: object) => {
    const sub = object as {
      status?: string;
      test_clock?: unknown;
      items?: { data?: Array<{ price?: { id?: string } }> };
    };
    if (!clocks && typeof sub.test_clock === 'string') return false;
    const statusOk =
      status === 'all' ? true : status === undefined ? sub.status !== 'canceled' : sub.status === status;
    const priceOk = price === undefined || (sub.items?.data ?? []).some((item) => item.price?.id === price);
    return statusOk && priceOk;
  };
}

/** The collection an id's prefix names (what an expandable field can be expanded into). */
const EXPANDABLE: Record<string, ResourceName> = {
  txn: 'balance_transactions',
  ch: 'charges',
  re: 'refunds',
  in: 'invoices',
  cn: 'credit_notes',
  dp: 'disputes',
  cus: 'customers',
  prod: 'products',
  price: 'prices',
  po: 'payouts',
  sub: 'subscriptions',
  inpay: 'invoice_payments',
};

/** `expand[]` paths, each a top-level field (under `data.` for a list); others are refused as Stripe does. */
function expansions(params: Params, prefix: string): string[] {
  const raw = params.expand;
  const paths = Array.isArray(raw)
    ? raw
    : raw === undefined
      ? []
      : typeof raw === 'string'
        ? [raw]
        : Object.values(raw);
  return paths.map((path) => {
    if (typeof path !== 'string' || !path.startsWith(prefix) || path.slice(prefix.length).includes('.'))
      throw invalidRequest(`This property cannot be expanded (${String(path)}).`, 'expand');
    return path.slice(prefix.length);
  });
}

/** Expandable fields are ids unless asked for: then the object they name. */
function expand<T extends { id: string }>(
  data: AccountData,
  object: T,
  fields: string[],
  version: string,
): T {
  if (fields.length === 0) return object;
  const out = { ...object } as Record<string, unknown>;
  for (const field of fields) {
    const value = out[field];
    // Discounts: Stripe has no list or retrieve of them, but a subscription's or an invoice's
    // `discounts` (ids) expand into them (a removed one stays an id).
    if (Array.isArray(value) && value.every((v) => typeof v === 'string' && v.startsWith('di_'))) {
      out[field] = value.map((id: string) => {
        const found = data.discounts.get(id);
        return found && !data.discounts.isRemoved(id) ? renderAt(version, found) : id;
      });
      continue;
    }
    const target = typeof value === 'string' ? EXPANDABLE[value.split('_')[0] as string] : undefined;
    if (!(field in out) || (value !== null && !target))
      throw invalidRequest(`This property cannot be expanded (${field}).`, 'expand');
    if (typeof value === 'string' && target) {
      const collection = data.collections[target];
      const found = collection.get(value);
      if (found)
        out[field] =
          collection.isRemoved(value) && target === 'customers'
            ? deletedStub(target, value)
            : collection.isRemoved(value)
              ? value
              : renderAt(version, found);
    }
  }
  return out as T;
}

function missing(objectName: string, id: string, param = 'id') {
  return new StripeApiError(404, {
    type: 'invalid_request_error',
    code: 'resource_missing',
    message: `No such ${objectName}: '${id}'`,
    param,
  });
}

/** A route template for the request log and fault rules: ids become `:id`. */
export function routeOf(method: string, path: string): string {
  const segments = path.split('/');
  // Test helpers' resources sit one level deeper: `/v1/test_helpers/test_clocks/:id`.
  const first = segments[2] === 'test_helpers' ? 4 : 3;
  const template = segments
    .map((segment, index) => (index >= first && /^[a-z]+_[A-Za-z0-9]+$/.test(segment) ? ':id' : segment))
    .join('/');
  return `${method} ${template}`;
}

/** Stripe's `/v1/events` filters: `type` or up to 20 `types`, never both (400 otherwise). */
function eventTypes(params: Params): string[] {
  const out: string[] = [];
  const types = params.types;
  if (types !== undefined && params.type !== undefined)
    throw invalidRequest('You may only specify one of these parameters: type, types.', 'types');
  if (typeof params.type === 'string') out.push(params.type);
  if (Array.isArray(types)) for (const t of types) if (typeof t === 'string') out.push(t);
  if (types && typeof types === 'object' && !Array.isArray(types)) {
    for (const t of Object.values(types)) if (typeof t === 'string') out.push(t);
  }
  if (out.length > 20)
    throw invalidRequest(`Invalid array: types can have at most 20 items (${out.length} given).`, 'types');
  return out;
}

/** Stripe's `type` filter takes `*` wildcards (`charge.*`). */
function matchesType(event: { type: string }, types: string[]): boolean {
  if (types.length === 0) return true;
  return types.some((pattern) =>
    pattern.includes('*')
      ? new RegExp(`^${pattern.replace(/\./g, '\\.').replace(/\*/g, '.*')}$`).test(event.type)
      : pattern === event.type,
  );
}
