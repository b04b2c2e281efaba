import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  paginateQuery,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { keys } from '../../data/keys.js';
import { type ConnectionRef, refOf } from '../../domain/connection.js';
import type { ResourceName } from '../../records/registry.js';
import { type Checkpoint, type CheckpointStore, partKey } from '../../sync/checkpoint.js';
import { conditionalWrite } from './document-client.js';

/** The fences `fencePart` puts on a part no one held, and on one a worker held. */
const IDLE_FENCE = 'fence-idle';
const WORKER_FENCE = 'fence';

/** Parts are kept a week at most (a plan a takeover abandoned is deleted by TTL). */
const PART_TTL_SECONDS = 7 * 24 * 3600;

/** Sync checkpoints as `ORG#<org>` / `CURSOR#<slot>#<resource>` items (`CURSOR#<resource>` for the legacy connection). */
export class DynamoCheckpointStore implements CheckpointStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async get(ref: ConnectionRef, resource: ResourceName): Promise<Checkpoint | undefined> {
    const { Item } = await this.db.send(
      new GetCommand({ TableName: this.tableName, Key: keys.cursor(ref, resource), ConsistentRead: true }),
    );
    if (!Item) return undefined;
    const { pk: _pk, sk: _sk, type: _type, ...checkpoint } = Item;
    return checkpoint as Checkpoint;
  }

  async all(ref: ConnectionRef): Promise<Map<ResourceName, Checkpoint>> {
    const found = new Map<ResourceName, Checkpoint>();
    for await (const { sk, checkpoint } of this.itemsUnder(keys.cursor(ref, ''))) {
      // The legacy connection's prefix (`CURSOR#`) also holds every slot's: only its own count.
      if (sk !== keys.cursor(ref, String(checkpoint.resource)).sk) continue;
      found.set(checkpoint.resource as ResourceName, checkpoint);
    }
    return found;
  }

  /** Every checkpoint item whose sort key starts with the key's, read strongly consistent, without its keys. */
  private async *itemsUnder(key: { pk: string; sk: string }) {
    const pages = paginateQuery(
      { client: this.db },
      {
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': key.pk, ':prefix': key.sk },
        ConsistentRead: true,
      },
    );
    for await (const page of pages)
      for (const { pk: _pk, sk, type: _type, ttl: _ttl, ...checkpoint } of page.Items ?? [])
        yield { sk: String(sk), checkpoint: checkpoint as Checkpoint };
  }

  async put(checkpoint: Checkpoint): Promise<void> {
    await this.db.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          ...keys.cursor(refOf(checkpoint), checkpoint.resource),
          type: 'sync_checkpoint',
          ...checkpoint,
        },
      }),
    );
  }

  async reset(ref: ConnectionRef, resource: ResourceName): Promise<void> {
    await this.db.send(new DeleteCommand({ TableName: this.tableName, Key: keys.cursor(ref, resource) }));
  }

  private partItemKey(part: Checkpoint) {
    if (!part.part) throw new Error('not a part of a backfill');
    return keys.cursor(refOf(part), partKey(part.resource, part.part.plan, part.part.index));
  }

  private partItem(part: Checkpoint) {
    return {
      ...this.partItemKey(part),
      type: 'sync_checkpoint_part',
      ttl: Math.floor(Date.now() / 1000) + PART_TTL_SECONDS,
      ...part,
    };
  }

  async putParts(parts: Checkpoint[]): Promise<void> {
    for (const part of parts)
      await this.db.send(new PutCommand({ TableName: this.tableName, Item: this.partItem(part) }));
  }

  async parts(ref: ConnectionRef, resource: ResourceName, plan: string): Promise<Checkpoint[]> {
    const found: Checkpoint[] = [];
    for await (const { checkpoint } of this.itemsUnder(keys.cursor(ref, partKey(resource, plan))))
      found.push(checkpoint);
    return found;
  }

  async claimPart(
    ref: ConnectionRef,
    resource: ResourceName,
    plan: string,
    by: string,
    nowMs: number,
    untilMs: number,
  ): Promise<Checkpoint | undefined> {
    for (const part of await this.parts(ref, resource, plan)) {
      if (part.phase !== 'backfill' || (part.claim && part.claim.until >= nowMs)) continue;
      // Claimed before (its worker's claim ran out, or a fence replaced it): what that worker
      // wrote last may not be in the part's checkpoint. A fence on a part no one held is not that.
      const retaken = (part.claim !== undefined && part.claim.by !== IDLE_FENCE) || part.retaken === true;
      const claimed = await conditionalWrite(() =>
        this.db.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: this.partItemKey(part),
            UpdateExpression: 'SET claim = :claim, retaken = :retaken',
            ConditionExpression: 'phase = :backfill AND (attribute_not_exists(claim) OR claim.#until < :now)',
            ExpressionAttributeNames: { '#until': 'until' },
            ExpressionAttributeValues: {
              ':claim': { by, until: untilMs },
              ':retaken': retaken,
              ':backfill': 'backfill',
              ':now': nowMs,
            },
          }),
        ),
      );
      if (claimed) return { ...part, claim: { by, until: untilMs }, retaken };
    }
    return undefined;
  }

  async renewPart(part: Checkpoint, by: string, mustHoldMs: number, untilMs: number): Promise<boolean> {
    return conditionalWrite(() =>
      this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: this.partItemKey(part),
          UpdateExpression: 'SET claim.#until = :until',
          ConditionExpression: 'claim.#by = :by AND claim.#until >= :must',
          ExpressionAttributeNames: { '#until': 'until', '#by': 'by' },
          ExpressionAttributeValues: { ':until': untilMs, ':by': by, ':must': mustHoldMs },
        }),
      ),
    );
  }

  async fencePart(part: Checkpoint, nowMs: number, untilMs: number): Promise<'fenced' | 'stopped' | false> {
    const claim = part.claim;
    // A worker's claim, live or run out (or a fence over one): what it wrote last may not be in
    // the part's checkpoint, so the part is claimed afterwards as taken over. No claim (or an
    // idle fence): nothing was written since the part's last save.
    const idle = claim === undefined || claim.by === IDLE_FENCE;
    const fenced = await conditionalWrite(() =>
      this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: this.partItemKey(part),
          UpdateExpression: 'SET claim = :fence',
          ConditionExpression: claim
            ? 'phase = :backfill AND claim.#by = :by AND claim.#until = :until'
            : 'phase = :backfill AND attribute_not_exists(claim)',
          ...(claim ? { ExpressionAttributeNames: { '#by': 'by', '#until': 'until' } } : {}),
          ExpressionAttributeValues: {
            ':fence': { by: idle ? IDLE_FENCE : WORKER_FENCE, until: untilMs },
            ':backfill': 'backfill',
            ...(claim ? { ':by': claim.by, ':until': claim.until } : {}),
          },
        }),
      ),
    );
    if (!fenced) return false;
    // A worker was holding it: its store under way may still land (the caller waits for it).
    return claim !== undefined && !claim.by.startsWith('fence') && claim.until >= nowMs
      ? 'stopped'
      : 'fenced';
  }

  async liftFences(ref: ConnectionRef, resource: ResourceName, plan: string): Promise<number> {
    let lifted = 0;
    for (const part of await this.parts(ref, resource, plan)) {
      const claim = part.claim;
      if (part.phase !== 'backfill' || !claim?.by.startsWith('fence')) continue;
      const done = await conditionalWrite(() =>
        this.db.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: this.partItemKey(part),
            UpdateExpression:
              claim.by === IDLE_FENCE ? 'REMOVE claim' : 'REMOVE claim SET retaken = :retaken',
            ConditionExpression: 'claim.#by = :by AND claim.#until = :until',
            ExpressionAttributeNames: { '#by': 'by', '#until': 'until' },
            ExpressionAttributeValues: {
              ':by': claim.by,
              ':until': claim.until,
              ...(claim.by === IDLE_FENCE ? {} : { ':retaken': true }),
            },
          }),
        ),
      );
      if (done) lifted++;
    }
    return lifted;
  }

  async savePart(part: Checkpoint, by: string): Promise<boolean> {
    // Only the part's progress: its claim is moved on by `renewPart` alone (a save racing a
    // renewal must not carry an expiry the renewal was refused), and removed to release it.
    const set: Record<string, unknown> = {
      slices: part.slices,
      phase: part.phase,
      total: part.total,
      cursor: part.cursor,
      updatedAt: part.updatedAt,
      ...(part.unsettledSince !== undefined ? { unsettledSince: part.unsettledSince } : {}),
      ...(part.openIds !== undefined ? { openIds: part.openIds } : {}),
      ...(part.retaken ? { retaken: true } : {}),
    };
    const names = Object.keys(set);
    return conditionalWrite(() =>
      this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: this.partItemKey(part),
          UpdateExpression: `SET ${names.map((n) => `#${n} = :${n}`).join(', ')}${part.claim ? '' : ' REMOVE claim'}`,
          ConditionExpression: 'claim.#by = :by',
          ExpressionAttributeNames: { ...Object.fromEntries(names.map((n) => [`#${n}`, n])), '#by': 'by' },
          ExpressionAttributeValues: {
            ...Object.fromEntries(names.map((n) => [`:${n}`, set[n]])),
            ':by': by,
          },
        }),
      ),
    );
  }

  async deleteParts(ref: ConnectionRef, resource: ResourceName, plan: string): Promise<void> {
    for (const part of await this.parts(ref, resource, plan))
      await this.db.send(new DeleteCommand({ TableName: this.tableName, Key: this.partItemKey(part) }));
  }
}
