import * as z from 'zod/mini';
import type * as core from 'zod/v4/core';
import { badRequest, HttpError } from '../errors.js';
import type { HttpEvent } from './handler.js';

export const MAX_JSON_BODY = 16 * 1024;

/** The request body as text, base64-decoded when API Gateway encoded it. */
export function rawBody(event: HttpEvent): string {
  if (!event.body) return '';
  return event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
}

/** Parses an optional JSON body with a zod schema; an empty body is `{}`. Clear 4xx otherwise. */
export function parseJsonBody<S extends core.$ZodType>(
  event: HttpEvent,
  schema: S,
  maxBytes = MAX_JSON_BODY,
): core.output<S> {
  const text = rawBody(event);
  if (Buffer.byteLength(text) > maxBytes)
    throw new HttpError(413, 'payload_too_large', `The body may be at most ${maxBytes} bytes.`);
  let value: unknown = {};
  if (text.trim() !== '') {
    // A body said to be something else (a form, text) is not read as JSON: 415, as APIs do.
    const type = Object.entries(event.headers ?? {}).find(
      ([name]) => name.toLowerCase() === 'content-type',
    )?.[1];
    if (type !== undefined && !/^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i.test(type))
      throw new HttpError(
        415,
        'unsupported_media_type',
        'The body must be JSON (Content-Type: application/json).',
      );
    try {
      value = JSON.parse(text);
    } catch {
      throw badRequest('The body is not valid JSON.', 'invalid_json');
    }
  }
  const result = z.safeParse(schema, value);
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = issue?.path.length ? `${issue.path.join('.')}: ` : '';
    throw badRequest(`${where}${issue?.message ?? 'invalid body'}`, 'invalid_request');
  }
  return result.data;
}
