import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { renderClaim } from '../shared/http/auth.js';
import type { HttpEvent } from '../shared/http/handler.js';
import type { RouteDef } from '../shared/http/routes.js';
import { invoke } from './invocation.js';
import { lambdaContext } from './lambda-context.js';

export type LambdaHttpHandler = (
  event: HttpEvent,
  context: Context,
) => Promise<APIGatewayProxyStructuredResultV2>;

export interface ApiAdapterOptions {
  routes: readonly RouteDef[];
  handlers: Record<string, LambdaHttpHandler>;
  verifyJwt: (token: string) => Promise<Record<string, unknown>>;
  corsOrigins: readonly string[];
  /** API Gateway's payload limit. */
  maxBodyBytes?: number;
}

const TEXT_TYPES = /^(text\/|application\/(json|[a-z.+-]*\+json|x-www-form-urlencoded|xml|javascript))/i;

/**
 * An API Gateway HTTP API (payload format 2.0) in front of the same handler
 * modules Lambda runs: route matching, the JWT authorizer (claims in
 * `requestContext.authorizer.jwt.claims`, arrays flattened as API Gateway
 * does), CORS for the configured origins, base64 bodies for binary content.
 * Returns false when no route matches so the caller can serve other paths.
 */
export function apiAdapter(options: ApiAdapterOptions) {
  const maxBody = options.maxBodyBytes ?? 10 * 1024 * 1024;
  const compiled = options.routes.map((route) => ({
    route,
    pattern: new RegExp(`^${route.path.replace(/\{(\w+)\}/g, '(?<$1>[^/]+)')}$`),
  }));

  return async function handle(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const url = requestTarget(req.url);
    const method = (req.method ?? 'GET').toUpperCase();
    const matchesPath = compiled.filter((c) => c.pattern.test(url.pathname));
    if (matchesPath.length === 0) return false;
    const origin = req.headers.origin;
    const corsHeaders: Record<string, string> =
      origin && options.corsOrigins.includes(origin)
        ? { 'access-control-allow-origin': origin, vary: 'origin' }
        : {};

    if (method === 'OPTIONS' && req.headers['access-control-request-method']) {
      // Preflight is answered by API Gateway itself, never by a function.
      res.writeHead(204, {
        ...corsHeaders,
        ...(corsHeaders['access-control-allow-origin']
          ? {
              'access-control-allow-methods': 'GET,POST,DELETE,OPTIONS',
              'access-control-allow-headers': 'authorization,content-type',
              'access-control-max-age': '600',
            }
          : {}),
      });
      res.end();
      return true;
    }
    const match = matchesPath.find((c) => c.route.method === method);
    if (!match) {
      send(
        res,
        404,
        { 'content-type': 'application/json', ...corsHeaders },
        JSON.stringify({ message: 'Not Found' }),
      );
      return true;
    }

    let body: Buffer;
    try {
      body = await readBody(req, maxBody);
    } catch {
      send(
        res,
        413,
        { 'content-type': 'application/json', ...corsHeaders },
        JSON.stringify({ message: 'Request Entity Too Large' }),
      );
      return true;
    }

    let claims: Record<string, string> | undefined;
    if (match.route.auth === 'jwt') {
      const header = req.headers.authorization ?? '';
      const token = header.match(/^Bearer\s+(\S+)$/i)?.[1];
      try {
        if (!token) throw new Error('no token');
        claims = flattenClaims(await options.verifyJwt(token));
      } catch {
        // API Gateway's own answer; the function is never called.
        send(
          res,
          401,
          { 'content-type': 'application/json', 'www-authenticate': 'Bearer', ...corsHeaders },
          JSON.stringify({ message: 'Unauthorized' }),
        );
        return true;
      }
    }

    const pathParameters = decodedParameters(match.pattern, url.pathname);
    if (pathParameters === null) {
      // Percent-encoding that does not decode: API Gateway refuses it before any function runs.
      send(
        res,
        400,
        { 'content-type': 'application/json', ...corsHeaders },
        JSON.stringify({ message: 'Bad Request' }),
      );
      return true;
    }
    const event = toEvent(req, url, method, match.route, pathParameters, body, claims);
    const handler = options.handlers[match.route.function];
    if (!handler) throw new Error(`no handler for ${match.route.function}`);
    let result: APIGatewayProxyStructuredResultV2;
    try {
      const context = lambdaContext(match.route.function);
      result = await invoke(context, () => handler(event, context));
    } catch {
      send(
        res,
        500,
        { 'content-type': 'application/json', ...corsHeaders },
        JSON.stringify({ message: 'Internal Server Error' }),
      );
      return true;
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(result.headers ?? {})) headers[k.toLowerCase()] = String(v);
    // A text body stays a string: no copy into a Buffer on the way out.
    const out = result.isBase64Encoded ? Buffer.from(result.body ?? '', 'base64') : (result.body ?? '');
    if (result.cookies?.length) res.setHeader('set-cookie', result.cookies);
    send(res, result.statusCode ?? 200, { ...headers, ...corsHeaders }, out);
    return true;
  };
}

interface RequestTarget {
  pathname: string;
  /** The query string without its `?`. */
  search: string;
}

/** The path and query as sent (API Gateway's rawPath and rawQueryString), without a URL parse per request. */
function requestTarget(target = '/'): RequestTarget {
  const at = target.indexOf('?');
  return at < 0
    ? { pathname: target, search: '' }
    : { pathname: target.slice(0, at), search: target.slice(at + 1) };
}

/**
 * The route's parameters, percent-decoded as an HTTP API hands them to a function
 * (`/connections/conn%5F1` arrives as `conn_1`); null when one does not decode.
 */
function decodedParameters(pattern: RegExp, pathname: string): Record<string, string> | undefined | null {
  const groups = pattern.exec(pathname)?.groups;
  if (!groups) return undefined;
  const out: Record<string, string> = {};
  try {
    for (const name in groups) out[name] = decodeURIComponent(groups[name] as string);
  } catch {
    return null;
  }
  return out;
}

function send(res: ServerResponse, status: number, headers: Record<string, string>, body: string | Buffer) {
  res.writeHead(status, { ...headers, 'content-length': String(Buffer.byteLength(body)) });
  res.end(body);
}

function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  // Listeners rather than `for await`: the async iterator costs more per request than the read.
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        req.removeAllListeners('data');
        req.resume();
        reject(new Error('too large'));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** API Gateway passes claims as strings (`renderClaim`); an array claim arrives as "[a b]". */
export function flattenClaims(payload: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(payload)) {
    const rendered = renderClaim(value);
    if (rendered !== undefined) out[key] = rendered;
  }
  return out;
}

function toEvent(
  req: IncomingMessage,
  url: RequestTarget,
  method: string,
  route: RouteDef,
  pathParameters: Record<string, string> | undefined,
  body: Buffer,
  claims: Record<string, string> | undefined,
): HttpEvent {
  const headers: Record<string, string> = {};
  let cookies: string[] | undefined;
  // node gives header names in lower case already.
  for (const name in req.headers) {
    const value = req.headers[name];
    if (value === undefined) continue;
    if (name === 'cookie') {
      cookies = String(value).split(/;\s*/);
      continue;
    }
    headers[name] = Array.isArray(value) ? value.join(',') : value;
  }
  const query: Record<string, string> = {};
  if (url.search !== '')
    for (const [key, value] of new URLSearchParams(url.search))
      query[key] = key in query ? `${query[key]},${value}` : value;
  const contentType = headers['content-type'] ?? '';
  const isText = body.length === 0 || TEXT_TYPES.test(contentType);
  const now = new Date();
  const routeKey = `${route.method} ${route.path}`;
  return {
    version: '2.0',
    routeKey,
    rawPath: url.pathname,
    rawQueryString: url.search,
    headers,
    ...(cookies ? { cookies } : {}),
    ...(Object.keys(query).length > 0 ? { queryStringParameters: query } : {}),
    ...(pathParameters ? { pathParameters } : {}),
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      domainName: headers.host ?? 'localhost',
      domainPrefix: 'localhost',
      http: {
        method,
        path: url.pathname,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: randomUUID(),
      routeKey,
      stage: '$default',
      time: now.toISOString(),
      timeEpoch: now.getTime(),
      ...(claims ? { authorizer: { jwt: { claims, scopes: [] } } } : {}),
    },
    ...(body.length > 0 ? { body: isText ? body.toString('utf8') : body.toString('base64') } : {}),
    isBase64Encoded: !isText,
  } as HttpEvent;
}
