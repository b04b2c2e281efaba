import type {
  LinedResource,
  RecordCounts,
  RecordScope,
  RecordsStore,
} from '../shared/ports/records-store.js';
import {
  embeddedLines,
  hasMoreLines,
  LINE_RESOURCES,
  type ListedResourceName,
  linesOf,
  RECORD_RESOURCES,
  type ResourceName,
  type StripeObject,
} from '../shared/records/registry.js';
import type { Mode } from './stripe-sandbox/account-data.js';
import type { Sandbox } from './stripe-sandbox/sandbox.js';

/** What Stripe holds for one account: every object of a resource as Stripe shows it now. */
export interface Truth {
  objects(resource: ListedResourceName): Iterable<StripeObject> | AsyncIterable<StripeObject>;
  /** An invoice's or credit note's lines past the page Stripe embeds in it. */
  lines(resource: LinedResource, parentId: string): StripeObject[] | Promise<StripeObject[]>;
}

export interface Difference {
  id: string;
  kind: 'missing' | 'extra' | 'different';
  /** Top-level fields that differ (for `different`), `lines` for an invoice's stored lines. */
  fields?: string[];
}

export interface ResourceReport {
  /** Objects Stripe has. */
  expected: number;
  /** Records stored (not marked deleted). */
  stored: number;
  missing: number;
  extra: number;
  different: number;
  /** The first few differences, to look into. */
  samples: Difference[];
}

export interface ReconcileReport {
  orgId: string;
  mode: Mode;
  accountId: string;
  ok: boolean;
  resources: Record<ResourceName, ResourceReport>;
  /** The counts the status shows, against what the oracle counted. */
  counts: { status: RecordCounts | null; oracle: RecordCounts; equal: boolean };
}

const SAMPLES = 10;

/**
 * The oracle: every record stored for an org's account, field by field, against Stripe's own
 * objects. A record Stripe no longer has is extra unless it is marked deleted; an invoice's
 * stored lines past the embedded page must be its lines. `ok` only with nothing missing,
 * extra or different, and status counts equal to the oracle's.
 */
export async function reconcile(
  records: RecordsStore,
  truth: Truth,
  scope: RecordScope,
  /** `compareObjects: false` checks ids and deletion only (much faster on a large account). */
  options: { compareObjects?: boolean } = {},
): Promise<ReconcileReport> {
  const compare = options.compareObjects !== false;
  const resources = {} as Record<ResourceName, ResourceReport>;
  const oracle: RecordCounts = {};
  for (const name of RECORD_RESOURCES) {
    const report: ResourceReport = {
      expected: 0,
      stored: 0,
      missing: 0,
      extra: 0,
      different: 0,
      samples: [],
    };
    const note = (d: Difference) => {
      report[d.kind]++;
      if (report.samples.length < SAMPLES) report.samples.push(d);
    };
    const storedIds = new Set((await records.versions(scope, name)).keys());
    const seen = new Set<string>();
    for await (const object of truthObjects(truth, name)) {
      report.expected++;
      seen.add(object.id);
      if (!storedIds.has(object.id)) {
        note({ id: object.id, kind: 'missing' });
        continue;
      }
      if (!compare) continue;
      const record = await records.get(scope, name, object.id);
      if (!record || record.deleted) {
        note({ id: object.id, kind: 'missing' });
        continue;
      }
      const fields = differentFields(record.object, object);
      const lined = linesOf(name)?.parent; // `name` itself, when its objects hold lines
      if (lined && hasMoreLines(object, lined)) {
        const want = await truth.lines(lined, object.id);
        const have = await records.lines(scope, lined, object.id);
        if (JSON.stringify(want) !== JSON.stringify(have)) fields.push('lines');
      }
      if (fields.length > 0) note({ id: object.id, kind: 'different', fields });
    }
    for (const id of storedIds) {
      if (seen.has(id)) continue;
      const record = await records.get(scope, name, id);
      if (record && !record.deleted) note({ id, kind: 'extra' });
    }
    // (Without comparing objects, a record marked deleted that Stripe still has is not looked at.)
    report.stored = report.expected - report.missing + report.extra;
    oracle[name] = report.expected;
    resources[name] = report;
  }
  const status = (await records.counts(scope)) ?? null;
  const equal = RECORD_RESOURCES.every((name) => (status?.[name] ?? 0) === oracle[name]);
  const ok =
    equal &&
    RECORD_RESOURCES.every((name) => {
      const r = resources[name];
      return r.missing === 0 && r.extra === 0 && r.different === 0;
    });
  return { ...scope, ok, resources, counts: { status, oracle, equal } };
}

/**
 * What Stripe has of a resource: a listed one's objects, or every line of every invoice or
 * credit note Stripe has (the embedded page, then the rest of its `/lines` list).
 */
async function* truthObjects(truth: Truth, resource: ResourceName): AsyncIterable<StripeObject> {
  const lineDef = LINE_RESOURCES.find((def) => def.name === resource);
  if (!lineDef) {
    yield* truth.objects(resource as ListedResourceName);
    return;
  }
  for await (const parent of truth.objects(lineDef.parent)) {
    const { data: embedded, hasMore } = embeddedLines(lineDef, parent);
    yield* embedded;
    if (hasMore) yield* await truth.lines(lineDef.parent, parent.id);
  }
}

function differentFields(stored: StripeObject, truth: StripeObject): string[] {
  const keys = new Set([...Object.keys(stored), ...Object.keys(truth)]);
  return [...keys].filter((k) => JSON.stringify(stored[k]) !== JSON.stringify(truth[k])).sort();
}

/** The sandbox's own objects for an account: the truth its API would render at the pinned version. */
export function sandboxTruth(sandbox: Sandbox, accountId: string, mode: Mode): Truth {
  const data = sandbox.accountData(accountId, mode);
  if (!data) throw new Error(`the sandbox has no account ${accountId}`);
  return {
    *objects(resource) {
      // What Stripe lists: deleted objects are not there.
      const collection = resource === 'discounts' ? data.discounts : data.collections[resource];
      for (const object of collection.live()) yield object as unknown as StripeObject;
    },
    lines(resource, parentId) {
      const all = (resource === 'invoices'
        ? data.invoiceLinesOf(parentId)
        : resource === 'credit_notes'
          ? data.creditNoteLinesOf(parentId)
          : data.subscriptionItemsOf(parentId)) as unknown as StripeObject[] | undefined;
      const parent = data.collections[resource].get(parentId) as unknown as StripeObject | undefined;
      const lineDef = linesOf(resource);
      const embedded = parent && lineDef ? embeddedLines(lineDef, parent).data.length : 0;
      return (all ?? []).slice(embedded);
    },
  };
}

/** One line per resource, for people. */
export function describeReport(report: ReconcileReport): string {
  const lines = [`${report.ok ? 'OK' : 'DIFFERENT'}: ${report.orgId} / ${report.mode} / ${report.accountId}`];
  for (const name of RECORD_RESOURCES) {
    const r = report.resources[name];
    lines.push(
      `  ${name.padEnd(22)} stripe ${String(r.expected).padStart(7)}  stored ${String(r.stored).padStart(7)}  missing ${r.missing}  extra ${r.extra}  different ${r.different}  status count ${report.counts.status?.[name] ?? '-'}`,
    );
    for (const s of r.samples)
      lines.push(`      ${s.kind} ${s.id}${s.fields ? ` (${s.fields.join(', ')})` : ''}`);
  }
  return lines.join('\n');
}
