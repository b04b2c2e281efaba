import type { LocalStack } from '../../local/stack.js';
import { recordsResponseSchema } from '../../shared/http/api-schemas.js';
import type { RecordCounts, RecordScope, StoredRecord } from '../../shared/ports/records-store.js';
import {
  LINE_RESOURCES,
  RECORD_RESOURCES,
  type ResourceName,
  type StripeObject,
} from '../../shared/records/registry.js';
import { api } from './local-stack.js';

const position = (cursor: string) => Number(cursor.split('_').pop());

export type FeedRecord = ReturnType<typeof recordsResponseSchema.parse>['data'][number];

/** One page of the records API, checked against its documented schema. */
export async function feedPage(
  stack: LocalStack,
  token: string,
  query: Record<string, string | undefined> = {},
  path = '/v1/integrations/stripe/records',
) {
  const params = new URLSearchParams(
    Object.entries(query).filter((entry): entry is [string, string] => entry[1] !== undefined),
  );
  const response = await api(stack, 'GET', `${path}${params.size > 0 ? `?${params}` : ''}`, { token });
  if (response.status !== 200)
    throw new Error(`GET ${path} answered ${response.status}: ${JSON.stringify(response.json)}`);
  return recordsResponseSchema.parse(response.json);
}

/**
 * A consumer of the records API as Defrr would write one: it pages from its cursor until
 * `has_more` is false, keeps each record's latest state, and checks that the feed never
 * goes back (positions strictly increase; a record never returns an older version of
 * itself). It answers the oracle's questions (`reconcile`) from what it read alone.
 */
export class FeedMirror {
  readonly records = new Map<string, FeedRecord>();
  cursor: string | undefined;
  pages = 0;
  private lastPosition = -1;

  constructor(
    private readonly read: (after: string | undefined) => Promise<Awaited<ReturnType<typeof feedPage>>>,
  ) {}

  /** Reads until the feed has nothing more to give now. */
  async follow(): Promise<number> {
    let read = 0;
    for (;;) {
      const page = await this.read(this.cursor);
      this.pages++;
      for (const record of page.data) {
        const position = Number(record.cursor.split('_').pop());
        if (position <= this.lastPosition)
          throw new Error(`the feed went back: ${record.cursor} after position ${this.lastPosition}`);
        this.lastPosition = position;
        const key = `${record.resource}#${record.id}`;
        this.records.set(key, record);
        read++;
      }
      const next = Number(page.next.split('_').pop());
      if (next < this.lastPosition) throw new Error(`next ${page.next} is before what the page gave`);
      this.lastPosition = next;
      this.cursor = page.next;
      if (!page.has_more) return read;
    }
  }

  live(resource: ResourceName): Map<string, StripeObject> {
    const out = new Map<string, StripeObject>();
    for (const record of this.records.values())
      if (record.resource === resource && record.action !== 'deleted')
        out.set(record.id, record.object as StripeObject);
    return out;
  }

  /** What `reconcile` reads of a store, from the feed alone. */
  asStore(scope: RecordScope) {
    const find = (resource: ResourceName, id: string) => this.records.get(`${resource}#${id}`);
    return {
      versions: async (_scope: RecordScope, resource: ResourceName) =>
        new Map(
          [...this.records.values()]
            .filter((r) => r.resource === resource)
            .map((r) => [r.id, r.last_modified_at] as const),
        ),
      get: async (
        _scope: RecordScope,
        resource: ResourceName,
        id: string,
      ): Promise<StoredRecord | undefined> => {
        const record = find(resource, id);
        if (!record) return undefined;
        return {
          ...scope,
          resource,
          objectId: id,
          version: record.last_modified_at,
          source: 'sync',
          deleted: record.action === 'deleted',
          object: record.object as StripeObject,
        };
      },
      // An invoice's lines past its embedded page: its line records (`parent_id`) it does not
      // embed, in feed order (each version of an invoice writes all its lines, in Stripe's order).
      lines: async (_scope: RecordScope, resource: ResourceName, id: string): Promise<StripeObject[]> => {
        const lineResource = LINE_RESOURCES.find((l) => l.parent === resource)?.name;
        const holder = find(resource, id)?.object as { lines?: { data?: Array<{ id: string }> } } | undefined;
        const embedded = new Set((holder?.lines?.data ?? []).map((line) => line.id));
        return [...this.records.values()]
          .filter(
            (r) =>
              r.resource === lineResource &&
              r.parent_id === id &&
              r.action !== 'deleted' &&
              !embedded.has(r.id),
          )
          .sort((x, y) => position(x.cursor) - position(y.cursor))
          .map((r) => r.object as StripeObject);
      },
      counts: async (): Promise<RecordCounts> => {
        const counts: RecordCounts = {};
        for (const name of RECORD_RESOURCES) counts[name] = this.live(name).size;
        return counts;
      },
    };
  }
}
