import type { Collection, Entry } from './collection.js';

/** Stripe's error body and the status it goes with. */
export class StripeApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly body: { type: string; code?: string; message: string; param?: string },
    readonly headers: Record<string, string> = {},
  ) {
    super(body.message);
  }
}

export const invalidRequest = (message: string, param?: string, code?: string) =>
  new StripeApiError(400, {
    type: 'invalid_request_error',
    message,
    ...(param ? { param } : {}),
    ...(code ? { code } : {}),
  });

export type Params = { [key: string]: string | Params | Array<string | Params> };

/**
 * Stripe's form encoding: `created[gte]=1`, `types[0]=a`, `types[]=b`,
 * `expand[0]=data.source`. Returns a nested object; `__proto__`-style keys are
 * dropped so a request can never reach an object's prototype.
 */
export function parseParams(search: URLSearchParams): Params {
  const out: Params = Object.create(null);
  for (const [rawKey, value] of search) {
    const parts = rawKey.split('[').map((part, index) => (index === 0 ? part : part.replace(/\]$/, '')));
    if (parts.some((part) => part === '__proto__' || part === 'constructor' || part === 'prototype'))
      continue;
    let node: Params = out;
    for (let i = 0; i < parts.length - 1; i++) {
      const part = parts[i] as string;
      const nextIsIndex = /^\d*$/.test(parts[i + 1] as string);
      let child = node[part];
      if (child === undefined || typeof child === 'string') {
        child = nextIsIndex ? [] : Object.create(null);
        node[part] = child as Params;
      }
      node = child as Params;
    }
    const last = parts[parts.length - 1] as string;
    if (Array.isArray(node)) {
      if (last === '') node.push(value);
      else (node as unknown as string[])[Number(last)] = value;
    } else {
      node[last] = value;
    }
  }
  return out;
}

export interface ListQuery {
  limit: number;
  startingAfter?: string;
  endingBefore?: string;
  created: { gt?: number; gte?: number; lt?: number; lte?: number };
}

const LIST_KEYS = new Set(['limit', 'starting_after', 'ending_before', 'created', 'expand']);

function integer(value: unknown, param: string): number {
  if (typeof value !== 'string' || !/^-?\d+$/.test(value)) {
    throw invalidRequest(`Invalid integer: ${typeof value === 'string' ? value : 'an object'}`, param);
  }
  return Number(value);
}

/** Parses and validates the list parameters exactly where Stripe would refuse them. */
export function parseListQuery(params: Params, extraKeys: readonly string[] = []): ListQuery {
  for (const key of Object.keys(params)) {
    if (!LIST_KEYS.has(key) && !extraKeys.includes(key)) {
      throw invalidRequest(`Received unknown parameter: ${key}`, key);
    }
  }
  let limit = 10;
  if (params.limit !== undefined) {
    limit = integer(params.limit, 'limit');
    if (limit < 1 || limit > 100) {
      throw invalidRequest(
        `This value must be ${limit < 1 ? 'greater than or equal to 1' : 'less than or equal to 100'}.`,
        'limit',
      );
    }
  }
  const cursor = (name: string) => {
    const value = params[name];
    if (value === undefined) return undefined;
    if (typeof value !== 'string' || value === '')
      throw invalidRequest(`Invalid ${name}: must be an object id`, name);
    return value;
  };
  const startingAfter = cursor('starting_after');
  const endingBefore = cursor('ending_before');
  if (startingAfter && endingBefore) {
    throw invalidRequest(
      'You may only specify one of these parameters: ending_before, starting_after.',
      'ending_before',
    );
  }
  const created: ListQuery['created'] = {};
  const rawCreated = params.created;
  if (typeof rawCreated === 'string') {
    const exact = integer(rawCreated, 'created');
    created.gte = exact;
    created.lte = exact;
  } else if (rawCreated && !Array.isArray(rawCreated)) {
    for (const [op, value] of Object.entries(rawCreated)) {
      if (op !== 'gt' && op !== 'gte' && op !== 'lt' && op !== 'lte') {
        throw invalidRequest(`Received unknown parameter: created[${op}]`, `created[${op}]`);
      }
      created[op] = integer(value, `created[${op}]`);
    }
  } else if (rawCreated !== undefined) {
    throw invalidRequest('Invalid created: must be an integer or a hash', 'created');
  }
  return {
    limit,
    created,
    ...(startingAfter ? { startingAfter } : {}),
    ...(endingBefore ? { endingBefore } : {}),
  };
}

function inCreatedRange(created: number, range: ListQuery['created']): boolean {
  if (range.gt !== undefined && !(created > range.gt)) return false;
  if (range.gte !== undefined && !(created >= range.gte)) return false;
  if (range.lt !== undefined && !(created < range.lt)) return false;
  if (range.lte !== undefined && !(created <= range.lte)) return false;
  return true;
}

/** First position whose `created` is >= value (entries are ascending). */
function lowerBound(collection: { readonly entries: readonly Entry[] }, value: number): number {
  let lo = 0;
  let hi = collection.entries.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((collection.entries[mid]?.created ?? 0) < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export interface ListPage<T> {
  object: 'list';
  data: T[];
  has_more: boolean;
  url: string;
}

/**
 * Stripe's list semantics over a collection: newest first; `starting_after`
 * pages towards older objects, `ending_before` towards newer ones (the page
 * nearest the cursor, still newest first); `created` bounds; `has_more`.
 */
export function listCollection<T extends { id: string }>(
  collection: Collection<T>,
  query: ListQuery,
  url: string,
  objectName: string,
  filter?: (object: T) => boolean,
): ListPage<T> {
  const cursorId = query.startingAfter ?? query.endingBefore;
  let cursor: number | undefined;
  if (cursorId !== undefined) {
    cursor = collection.position(cursorId);
    // Stripe refuses a cursor naming an object deleted since it was listed, as one it never had
    // (400 resource_missing on the cursor's parameter): a paginator cannot resume after it.
    if (cursor === undefined || collection.isRemoved(cursorId)) {
      throw new StripeApiError(400, {
        type: 'invalid_request_error',
        code: 'resource_missing',
        message: `No such ${objectName}: '${cursorId}'`,
        param: query.startingAfter ? 'starting_after' : 'ending_before',
      });
    }
  }
  // Narrow to the created range with binary search; the cursor narrows further.
  let low = query.created.gte !== undefined ? lowerBound(collection, query.created.gte) : 0;
  if (query.created.gt !== undefined) low = Math.max(low, lowerBound(collection, query.created.gt + 1));
  let high = collection.entries.length - 1;
  if (query.created.lte !== undefined)
    high = Math.min(high, lowerBound(collection, query.created.lte + 1) - 1);
  if (query.created.lt !== undefined) high = Math.min(high, lowerBound(collection, query.created.lt) - 1);

  const data: T[] = [];
  let hasMore = false;
  const matches = (position: number) => {
    const entry = collection.entries[position];
    if (!entry || !inCreatedRange(entry.created, query.created) || collection.isRemoved(entry.id))
      return undefined;
    const object = collection.at(position);
    return !filter || filter(object) ? object : undefined;
  };
  if (query.endingBefore !== undefined && cursor !== undefined) {
    for (let position = Math.max(low, cursor + 1); position <= high; position++) {
      const object = matches(position);
      if (!object) continue;
      if (data.length === query.limit) {
        hasMore = true;
        break;
      }
      data.push(object);
    }
    data.reverse();
  } else {
    const start = cursor === undefined ? high : Math.min(high, cursor - 1);
    for (let position = start; position >= low; position--) {
      const object = matches(position);
      if (!object) continue;
      if (data.length === query.limit) {
        hasMore = true;
        break;
      }
      data.push(object);
    }
  }
  return { object: 'list', data, has_more: hasMore, url };
}
