import * as z from 'zod/mini';
import '../zod-locale.js';
import { built } from '../lazy.js';
import { LISTED_RESOURCES, RECORD_RESOURCES } from '../records/names.js';

/**
 * What the public API's handlers parse: the request bodies and queries. The responses'
 * shapes are in api-schemas.ts, which only the OpenAPI document and the tests build; each
 * is `built` in a call marked pure, so a function's bundle builds only the one it parses.
 */

export const connectBodySchema = /* @__PURE__ */ built(() =>
  z.strictObject({
    mode: z.optional(z.enum(['test', 'live'])),
    returnTo: z.optional(z.string().check(z.maxLength(2048))),
  }),
);

/** The install token the callback put in the redirect (`inst_` and 32 random bytes, base64url). */
export const confirmBodySchema = /* @__PURE__ */ built(() =>
  z.strictObject({
    install: z
      .string()
      .check(z.regex(/^inst_[A-Za-z0-9_-]{43}$/, 'must be the install token from the redirect')),
  }),
);

export const callbackQuerySchema = /* @__PURE__ */ built(() =>
  z.object({
    state: z.optional(z.string().check(z.minLength(1), z.maxLength(1024))),
    code: z.optional(z.string().check(z.minLength(1), z.maxLength(1024))),
    error: z.optional(z.string().check(z.maxLength(256))),
    error_description: z.optional(z.string().check(z.maxLength(2048))),
  }),
);

/** `POST …/sync`: incremental (the default), or a full re-sync of some or every resource. */
export const syncBodySchema = /* @__PURE__ */ built(() =>
  z
    .strictObject({
      mode: z.optional(z.enum(['incremental', 'full'])),
      resources: z.optional(
        z.array(z.enum(LISTED_RESOURCES)).check(
          z.minLength(1),
          z.refine((names) => new Set(names).size === names.length, 'must not repeat a resource'),
        ),
      ),
    })
    .check(
      z.refine((body) => body.resources === undefined || body.mode === 'full', {
        message: 'resources: only a full re-sync ("mode": "full") names resources',
      }),
    ),
);

/** `DELETE …`: `records=erase` erases the connection's records too (they are kept by default). */
/** Strict: a misspelt option of a destructive call is refused, not ignored. */
export const disconnectQuerySchema = /* @__PURE__ */ built(() =>
  z.strictObject({
    records: z.optional(z.enum(['keep', 'erase'])),
  }),
);

/** The most changes one page of the records API holds. */
export const MAX_RECORDS_PAGE = 1000;

/** `GET …/records`: every parameter a string, as API Gateway passes them (lists comma-separated). */
export const recordsQuerySchema = /* @__PURE__ */ built(() =>
  z.strictObject({
    resource: z.optional(
      z
        .string()
        .check(z.regex(new RegExp(`^(${RECORD_RESOURCES.join('|')})(,(${RECORD_RESOURCES.join('|')}))*$`))),
    ),
    action: z.optional(z.string().check(z.regex(/^(added|updated|deleted)(,(added|updated|deleted))*$/))),
    modified_after: z.optional(z.iso.datetime({ offset: true })),
    after: z.optional(z.string().check(z.maxLength(64))),
    limit: z.optional(z.string().check(z.regex(/^[1-9][0-9]{0,3}$/))),
    org: z.optional(z.string().check(z.maxLength(64))),
  }),
);
