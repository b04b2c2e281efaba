import { type DynamoDBDocumentClient, paginateQuery } from '@aws-sdk/lib-dynamodb';
import { DUE_INDEX, type DueKind, dueKeys } from '../../data/keys.js';

/**
 * What is due by `now` in the due-work index, one paginated query per
 * partition of the kind: each item's org (the index projects it).
 */
export function queryDue(
  db: DynamoDBDocumentClient,
  tableName: string,
  kind: DueKind,
  now: string,
): Array<AsyncIterable<{ orgId: string; pk: string; sk: string }>> {
  return dueKeys.partitions(kind).map((partition) =>
    (async function* () {
      const pages = paginateQuery(
        { client: db },
        {
          TableName: tableName,
          IndexName: DUE_INDEX.name,
          KeyConditionExpression: 'gsi2pk = :pk AND gsi2sk <= :now',
          ExpressionAttributeValues: { ':pk': partition, ':now': `${now}#~` },
        },
      );
      for await (const page of pages)
        for (const item of page.Items ?? [])
          yield { orgId: String(item.orgId ?? ''), pk: String(item.pk), sk: String(item.sk) };
    })(),
  );
}
