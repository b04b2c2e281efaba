/**
 * Errors that cross the HTTP boundary carry their status and a code the
 * frontend can act on. `expose` says whether the message may be shown; anything
 * else becomes a bare 500 that says nothing about internals.
 */
export class HttpError extends Error {
  override name = 'HttpError';
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    options?: { cause?: unknown; expose?: boolean; headers?: Record<string, string> },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.expose = options?.expose ?? statusCode < 500;
    this.headers = options?.headers ?? {};
  }
  readonly expose: boolean;
  readonly headers: Record<string, string>;
}

export const badRequest = (message: string, code = 'bad_request') => new HttpError(400, code, message);
export const unauthorized = (message = 'A valid bearer token is required.') =>
  new HttpError(401, 'unauthorized', message);
export const forbidden = (message = 'You may not do this.') => new HttpError(403, 'forbidden', message);
export const notFound = (message = 'Not found.') => new HttpError(404, 'not_found', message);
export const conflict = (message: string, code = 'conflict') => new HttpError(409, code, message);
