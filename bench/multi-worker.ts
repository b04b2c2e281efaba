import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadLocalConfig } from '../local/config.js';
import { startDynamoProcess } from '../local/embedded-dynamodb.js';
import { describeReport, reconcile, sandboxTruth } from '../local/reconcile.js';
import { startLocalStack } from '../local/stack.js';
import type { SyncJob } from '../shared/domain/sync-job.js';
import { connectedAccount } from './measurements.js';
import type { FromWorker, WorkerInit } from './worker-process.js';

const ROOT = join(__dirname, '..');
/** Stripe's live-mode rate limit, and what the service budgets of it. */
const LIVE_LIMIT = 100;
const LIVE_BUDGET = 80;

/**
 * A large live first backfill shared out among `workers` worker processes (issue 20), each a
 * process of its own as a Lambda instance is, against the sandbox at `latencyMs` a request and
 * Stripe's live limit (100/s, the sandbox answering 429 past it), with DynamoDB (dynalite) in a
 * process of its own. Jobs the workers queue (helpers) go to idle workers, one job each at a
 * time. Measures records/s against 8,000 (80 requests of 100 a second), the most requests
 * Stripe saw in any second, 429s, and the records against Stripe's with the oracle.
 */
export async function multiWorkerBackfill(records: number, workers: number, latencyMs = 300) {
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-workers-'));
  const config = loadLocalConfig({
    PORT: '0',
    DYNAMODB_PORT: '0',
    STRIPE_SANDBOX_PORT: '0',
    DATA_DIR: dataDir,
    LOG_LEVEL: 'ERROR',
    SYNC_BUDGET_LIVE: String(LIVE_BUDGET),
  });
  const stack = await startLocalStack(config, { startDynamo: () => startDynamoProcess() });
  const children: ChildProcess[] = [];
  try {
    stack.queues.sync.pause();
    const { accountId, orgId, job } = await connectedAccount(
      stack,
      { balance_transactions: records },
      undefined,
      'live',
    );
    stack.queues.sync.purge();
    await fetch(`${stack.sandbox.url}/_sandbox/rate_limits`, {
      method: 'POST',
      body: JSON.stringify({ live: LIVE_LIMIT }),
    });
    stack.sandbox.faults.push({
      id: 'slow',
      route: '*',
      account: accountId,
      kind: 'latency',
      rate: 1,
      latencyMs,
      seen: 0,
    });

    const init: WorkerInit = {
      dynamoEndpoint: stack.dynamo.endpoint,
      sandboxUrl: stack.sandbox.url,
      vaultKey: readFileSync(join(dataDir, 'vault.key'), 'utf8').trim(),
      vaultFile: join(dataDir, 'token-vault.json'),
      secretKeys: stack.sandbox.sandbox.secretKeys,
      budgetLive: LIVE_BUDGET,
      workers,
      // Small accounts (the quick and smoke runs) are shared out too.
      minObjects: Math.min(20_000, Math.floor(records / 4)),
    };
    // One invocation at a time per worker, as a Lambda instance: not the local stack's
    // concurrent invocations (whose variable this process set).
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      POWERTOOLS_LOG_LEVEL: 'ERROR',
      POWERTOOLS_METRICS_DISABLED: 'true',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    };
    delete env.AWS_LAMBDA_MAX_CONCURRENCY;
    for (let i = 0; i < workers; i++) {
      const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench', 'worker-process.ts')], {
        cwd: ROOT,
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        env,
      });
      children.push(child);
    }
    await Promise.all(
      children.map(async (child) => {
        const ready = new Promise<void>((resolve) =>
          child.on('message', (m: FromWorker) => m.type === 'ready' && resolve()),
        );
        child.send({ type: 'init', init });
        await ready;
      }),
    );

    // The queue: a job to an idle worker, each worker one job at a time (a Lambda instance).
    const queue: SyncJob[] = [];
    const idle = new Set(children);
    const outcomes: string[] = [];
    let workerCpuMs = 0;
    const sends: number[] = [];
    let running = 0;
    let finished: () => void = () => {};
    const allDone = new Promise<void>((resolve) => {
      finished = resolve;
    });
    const pump = () => {
      for (const child of idle) {
        const next = queue.shift();
        if (!next) break;
        idle.delete(child);
        running++;
        child.send({ type: 'job', job: next });
      }
      if (running === 0 && queue.length === 0) finished();
    };
    for (const child of children)
      child.on('message', (m: FromWorker) => {
        if (m.type === 'jobs') queue.push(...m.jobs);
        if (m.type === 'done') {
          running--;
          idle.add(child);
          outcomes.push(m.outcome);
          workerCpuMs += m.cpuMs;
          sends.push(...m.sends);
        }
        pump();
      });
    const since = Date.now();
    queue.push(job);
    pump();
    await allDone;
    const seconds = (Date.now() - since) / 1000;

    const report = await reconcile(
      stack.records,
      sandboxTruth(stack.sandbox.sandbox, accountId, 'live'),
      { orgId, mode: 'live', accountId },
      {},
    );
    if (!report.ok) throw new Error(`the records are not Stripe's:\n${describeReport(report)}`);
    const arrivals = stack.sandbox.requests.filter((r) => r.account === accountId && r.at >= since);
    const bySecond = (times: number[]) => {
      const counts = new Map<number, number>();
      for (const t of times) counts.set(Math.floor(t / 1000), (counts.get(Math.floor(t / 1000)) ?? 0) + 1);
      return Math.max(0, ...counts.values());
    };
    const recordsPerSecond = Math.round(records / seconds);
    const liveBound = LIVE_BUDGET * 100;
    const requests = arrivals.length;
    // What the same work would do with a core for each worker (a Lambda worker at 1,769 MB has
    // one vCPU): the workers' CPU per record, and the budget for the requests it needed.
    const cpuMsPerRecord = workerCpuMs / records;
    const projected = Math.round(
      Math.min(records / (requests / LIVE_BUDGET), (workers * 1000) / cpuMsPerRecord),
    );
    return {
      records,
      workers,
      latencyMs,
      seconds: Math.round(seconds * 10) / 10,
      recordsPerSecond,
      /** Against 8,000 records a second: 80 requests of 100 a second, Stripe's live limit less the margin. */
      fraction: Math.round((recordsPerSecond / liveBound) * 100) / 100,
      requests,
      helpers: outcomes.filter((o) => o === 'helped').length,
      outcomes: [...new Set(outcomes)],
      /** Stripe's view: requests that arrived in its busiest second, and the 429s it answered. */
      maxRequestsInAnySecond: bySecond(arrivals.map((r) => r.at)),
      rateLimited: arrivals.filter((r) => r.status === 429).length,
      /** The budget's view: requests the workers let through together in their busiest second. */
      maxSentInAnySecond: bySecond(sends),
      exact: report.ok,
      workerCpuMsPerRecord: Math.round(cpuMsPerRecord * 1000) / 1000,
      projectedRecordsPerSecond: projected,
      projectedFraction: Math.round((projected / liveBound) * 100) / 100,
    };
  } finally {
    for (const child of children) {
      if (child.exitCode !== null) continue;
      const exited = once(child, 'exit');
      child.kill();
      await exited;
    }
    await stack.close();
  }
}
