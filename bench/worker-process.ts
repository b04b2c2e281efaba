import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { FileTokenVault } from '../local/adapters/file-token-vault.js';
import { LOCAL_TABLES } from '../local/stack.js';
import { DynamoCheckpointStore } from '../shared/adapters/dynamodb/checkpoint-store.js';
import { DynamoConnectionStore } from '../shared/adapters/dynamodb/connection-store.js';
import { documentClient } from '../shared/adapters/dynamodb/document-client.js';
import { DynamoRecordsStore } from '../shared/adapters/dynamodb/records-store.js';
import { DynamoRequestShares } from '../shared/adapters/dynamodb/request-shares.js';
import { HttpStripeTokenClient } from '../shared/adapters/stripe/token-client.js';
import type { SyncJob } from '../shared/domain/sync-job.js';
import { systemClock } from '../shared/ports/clock.js';
import { StripeAccess } from '../shared/stripe/stripe-access.js';
import { DEFAULT_SYNC_CONFIG, runSync, type SyncDeps } from '../shared/sync/sync-run.js';

/**
 * One sync worker in a process of its own, as a Lambda instance is: the multi-worker bench
 * (bench/multi-worker.ts) starts several, gives each a job at a time over IPC, and routes the
 * jobs they queue (helpers of a shared-out backfill) to the idle ones. They share the
 * parent's DynamoDB (dynalite) and Stripe sandbox, as Lambda instances share AWS and Stripe.
 */
export interface WorkerInit {
  dynamoEndpoint: string;
  sandboxUrl: string;
  vaultKey: string;
  vaultFile: string;
  secretKeys: { test: string; live: string };
  budgetLive: number;
  workers: number;
  /** The least a backfill must likely hold to be shared out. */
  minObjects: number;
}

export type FromWorker =
  | { type: 'ready' }
  | { type: 'jobs'; jobs: SyncJob[] }
  | { type: 'done'; outcome: string; cpuMs: number; sends: number[] };

const send = (message: FromWorker) => process.send?.(message);

let deps: SyncDeps | undefined;
let sends: number[] = [];

process.on('message', async (message: { type: 'init'; init: WorkerInit } | { type: 'job'; job: SyncJob }) => {
  if (message.type === 'init') {
    const { init } = message;
    const db = documentClient(
      new DynamoDBClient({
        endpoint: init.dynamoEndpoint,
        region: 'local',
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      }),
    );
    const store = new DynamoConnectionStore(db, LOCAL_TABLES.service);
    const vault = new FileTokenVault(Buffer.from(init.vaultKey, 'base64'), init.vaultFile);
    const credentials = {
      secretKey: async (mode: 'test' | 'live') => init.secretKeys[mode],
      webhookSecrets: async () => [],
    };
    deps = {
      store,
      vault,
      checkpoints: new DynamoCheckpointStore(db, LOCAL_TABLES.service),
      records: new DynamoRecordsStore(db, LOCAL_TABLES.records),
      requestShares: new DynamoRequestShares(db, LOCAL_TABLES.service),
      access: new StripeAccess({
        store,
        vault,
        tokens: new HttpStripeTokenClient(credentials, init.sandboxUrl, 10_000),
        clock: systemClock,
        client: { apiBase: init.sandboxUrl, timeoutMs: 10_000, maxNetworkRetries: 0 },
      }),
      syncQueue: {
        send: async (job) => void send({ type: 'jobs', jobs: [job] }),
        sendBatch: async (jobs) => {
          send({ type: 'jobs', jobs });
          return { calls: Math.ceil(jobs.length / 10) };
        },
      },
      events: { publish: async () => undefined },
      clock: systemClock,
      config: {
        ...DEFAULT_SYNC_CONFIG,
        budgetLive: init.budgetLive,
        fanOut: { ...DEFAULT_SYNC_CONFIG.fanOut, workers: init.workers, minObjects: init.minObjects },
      },
      onStripeRequest: (_account, at) => sends.push(at),
    };
    send({ type: 'ready' });
    return;
  }
  if (!deps) throw new Error('a job before the worker was set up');
  sends = [];
  const before = process.cpuUsage();
  const outcome = await runSync(deps, message.job, () => 900_000).then(
    (result) => result.outcome,
    (error: unknown) => `failed: ${error instanceof Error ? error.name : String(error)}`,
  );
  const cpu = process.cpuUsage(before);
  send({ type: 'done', outcome, cpuMs: (cpu.user + cpu.system) / 1000, sends });
});
