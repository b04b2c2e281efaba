import type { QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import { DynamoConnectionStore } from '../../shared/adapters/dynamodb/connection-store.js';
import { documentClient } from '../../shared/adapters/dynamodb/document-client.js';
import { DynamoRecordsStore } from '../../shared/adapters/dynamodb/records-store.js';

/**
 * DynamoDB answers a query in pages of up to 1 MB. The tables in the other tiers
 * never hold that much, so here the client answers in two pages itself, and the
 * adapters must read both, the second from where the first stopped.
 */
function twoPages(first: Record<string, unknown>[], second: Record<string, unknown>[]) {
  const db = documentClient(undefined, { region: 'us-east-1' });
  const resumeAt = { pk: 'P', sk: 'last-of-page-1' };
  const inputs: QueryCommandInput[] = [];
  jest.spyOn(db, 'send').mockImplementation((async (command: { input: QueryCommandInput }) => {
    inputs.push({ ...command.input });
    return command.input.ExclusiveStartKey ? { Items: second } : { Items: first, LastEvaluatedKey: resumeAt };
  }) as never);
  return { db, inputs, resumeAt };
}

const link = (orgId: string) => ({
  accountId: 'acct_1',
  orgId,
  connectionId: `conn_${orgId}`,
  livemode: false,
});

it('reads every page of an account’s links', async () => {
  const { db, inputs, resumeAt } = twoPages([link('org_a')], [link('org_b')]);
  const links = await new DynamoConnectionStore(db, 'svc').accountLinks('acct_1');
  expect(links.map((l) => l.orgId)).toEqual(['org_a', 'org_b']);
  expect(inputs.map((i) => i.ExclusiveStartKey)).toEqual([undefined, resumeAt]);
});

it('reads every page of a resource’s stored versions', async () => {
  const { db, inputs, resumeAt } = twoPages(
    [{ objectId: 'ch_1', version: 'v1' }],
    [{ objectId: 'ch_2', version: 'v2' }],
  );
  const versions = await new DynamoRecordsStore(db, 'rec').versions(
    { orgId: 'org_a', mode: 'test', accountId: 'acct_1' },
    'charges',
  );
  expect([...versions]).toEqual([
    ['ch_1', 'v1'],
    ['ch_2', 'v2'],
  ]);
  expect(inputs.map((i) => i.ExclusiveStartKey)).toEqual([undefined, resumeAt]);
});
