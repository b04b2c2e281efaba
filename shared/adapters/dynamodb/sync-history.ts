import { type DynamoDBDocumentClient, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { keys } from '../../data/keys.js';
import type { ConnectionRef } from '../../domain/connection.js';
import type { SyncHistory, SyncRunRecord } from '../../ports/sync-history.js';

/** How long a run's record is kept: long enough to answer for last quarter's numbers. */
export const RUN_HISTORY_DAYS = 100;

/** Run records on DynamoDB: `ORG#<org>` / `RUN|<slot>|<connection>|<startedAt>|<runId>`, gone by the table's TTL. */
export class DynamoSyncHistory implements SyncHistory {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async recordRun(ref: ConnectionRef, run: SyncRunRecord): Promise<void> {
    const finished = Date.parse(run.finishedAt);
    await this.db.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          ...keys.syncRun(ref, run.connectionId, run.startedAt, run.runId),
          type: 'sync_run',
          ...run,
          ttl: Math.floor(finished / 1000) + RUN_HISTORY_DAYS * 86_400,
        },
      }),
    );
  }

  async recentRuns(ref: ConnectionRef, connectionId: string, limit: number): Promise<SyncRunRecord[]> {
    const { pk, skPrefix } = keys.syncRuns(ref, connectionId);
    const { Items } = await this.db.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': pk, ':prefix': skPrefix },
        ScanIndexForward: false,
        Limit: limit,
      }),
    );
    return (Items ?? []).map((item) => ({
      runId: item.runId as string,
      connectionId: item.connectionId as string,
      trigger: item.trigger as SyncRunRecord['trigger'],
      startedAt: item.startedAt as string,
      finishedAt: item.finishedAt as string,
      durationMs: item.durationMs as number,
      outcome: item.outcome as SyncRunRecord['outcome'],
      requests: item.requests as number,
      written: (item.written ?? {}) as Record<string, number>,
      errors: (item.errors ?? []) as SyncRunRecord['errors'],
    }));
  }
}
