import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EVENT_SCHEMAS, eventsJsonSchema } from '../../shared/events/catalog.js';

/** docs/events.schema.json is what Defrr codes its rules and consumers against: it must be current. */
describe('the events schema document', () => {
  const onDisk = JSON.parse(readFileSync(join(__dirname, '..', '..', 'docs', 'events.schema.json'), 'utf8'));

  it('is generated from the catalog (npm run events:schema)', () => {
    expect(onDisk).toEqual(eventsJsonSchema());
  });

  it('describes every event the service publishes, each with what says which connection it is', () => {
    expect(Object.keys(onDisk.$defs).sort()).toEqual(Object.keys(EVENT_SCHEMAS).sort());
    for (const schema of Object.values(onDisk.$defs) as Array<{ required: string[] }>)
      expect(schema.required).toEqual(
        expect.arrayContaining(['orgId', 'connection', 'accountId', 'connectionId', 'livemode']),
      );
  });

  it('refuses a detail that lacks what it requires or carries the wrong type', () => {
    const failed = EVENT_SCHEMAS['Stripe Sync Failed'];
    const good = {
      orgId: 'org_1',
      connection: 'test_acct_1',
      accountId: 'acct_1',
      connectionId: 'conn_1',
      livemode: false,
      reason: 'nightly',
      outcome: 'partial',
      retrying: false,
      errors: [
        {
          code: 'resource_failed',
          message: 'Stripe did not give us disputes.',
          at: '2026-12-06T00:00:00.000Z',
        },
      ],
      at: '2026-12-06T00:00:00.000Z',
    };
    expect(failed.safeParse(good).success).toBe(true);
    expect(failed.safeParse({ ...good, errors: [] }).success).toBe(false);
    expect(failed.safeParse({ ...good, livemode: 'no' }).success).toBe(false);
    const { orgId: _orgId, ...noOrg } = good;
    expect(failed.safeParse(noOrg).success).toBe(false);
  });
});
