import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SQSEvent } from 'aws-lambda';
import { LocalQueue } from '../../local/adapters/local-queue.js';

describe('LocalQueue (the SQS stand-in)', () => {
  it('delivers SQS-shaped records and removes what the handler accepted', async () => {
    const queue = new LocalQueue<{ n: number }>({ name: 'q', batchSize: 5, visibilityTimeoutMs: 5 });
    const seen: SQSEvent[] = [];
    queue.consume(async (event) => {
      seen.push(event);
      return { batchItemFailures: [] };
    });
    await queue.sendBatch([{ n: 1 }, { n: 2 }, { n: 3 }]);
    await queue.idle();
    const records = seen.flatMap((e) => e.Records);
    expect(records.map((r) => JSON.parse(r.body))).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
    expect(records[0]).toMatchObject({
      eventSource: 'aws:sqs',
      attributes: { ApproximateReceiveCount: '1' },
    });
    expect(queue.depth).toBe(0);
  });

  it('retries only the reported failures, then dead-letters after maxReceiveCount', async () => {
    const queue = new LocalQueue<{ n: number }>({ name: 'q', maxReceiveCount: 3, visibilityTimeoutMs: 5 });
    const attempts = new Map<number, number>();
    queue.consume(async (event) => ({
      batchItemFailures: event.Records.filter((r) => {
        const { n } = JSON.parse(r.body) as { n: number };
        attempts.set(n, (attempts.get(n) ?? 0) + 1);
        return n === 2 || (n === 3 && (attempts.get(3) ?? 0) < 2);
      }).map((r) => ({ itemIdentifier: r.messageId })),
    }));
    await queue.sendBatch([{ n: 1 }, { n: 2 }, { n: 3 }]);
    await queue.idle();
    expect(Object.fromEntries(attempts)).toEqual({ 1: 1, 2: 3, 3: 2 });
    expect(queue.deadLetters.map((d) => JSON.parse(d.body))).toEqual([{ n: 2 }]);
    expect(queue.deadLetters[0]?.receiveCount).toBe(3);
  });

  it('treats a thrown error as a failed batch, and redrives dead letters', async () => {
    const queue = new LocalQueue<{ n: number }>({ name: 'q', maxReceiveCount: 2, visibilityTimeoutMs: 5 });
    let fail = true;
    let handled = 0;
    queue.consume(async () => {
      if (fail) throw new Error('boom');
      handled++;
    });
    await queue.send({ n: 1 });
    await queue.idle();
    expect(queue.deadLetters).toHaveLength(1);
    fail = false;
    expect(queue.redrive()).toBe(1);
    await queue.idle();
    expect(handled).toBe(1);
    expect(queue.deadLetters).toHaveLength(0);
  });

  it('sends in batches of ten, like SendMessageBatch', async () => {
    const queue = new LocalQueue<number>({ name: 'q' });
    const { calls } = await queue.sendBatch(Array.from({ length: 25 }, (_, i) => i));
    expect(calls).toBe(3);
    expect(queue.depth).toBe(25);
  });

  it('respects a send delay and the concurrency limit', async () => {
    const queue = new LocalQueue<number>({ name: 'q', batchSize: 1, maxConcurrency: 2 });
    let running = 0;
    let peak = 0;
    queue.consume(async () => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 10));
      running--;
    });
    const started = Date.now();
    await queue.send(0, { delaySeconds: 0.05 });
    await queue.sendBatch([1, 2, 3, 4, 5]);
    await queue.idle();
    expect(peak).toBe(2);
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
  });

  it('keeps its messages across a restart, as SQS does: queued ones, in-flight ones after the visibility timeout, dead letters', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'queue-')), 'q.json');
    const first = new LocalQueue<{ n: number }>({
      name: 'q',
      visibilityTimeoutMs: 300,
      maxReceiveCount: 1,
      stateFile: file,
    });
    let release: () => void = () => undefined;
    const firstReceivedAt = 0;
    first.consume(async (event) => {
      const n = (JSON.parse(event.Records[0]?.body as string) as { n: number }).n;
      if (n === 2) throw new Error('fails for good');
      if (n === 1)
        await new Promise<void>((resolve) => {
          release = resolve;
        }); // in flight when the process dies
      return { batchItemFailures: [] };
    });
    await first.send({ n: 1 });
    await first.send({ n: 2 });
    await new Promise((r) => setTimeout(r, 250)); // n=2 dead-lettered, n=1 in flight, and saved
    first.pause();
    await first.send({ n: 3 }); // queued, not delivered
    // The process dies: no stop(), no more deliveries from this one.
    const again = new LocalQueue<{ n: number }>({
      name: 'q',
      visibilityTimeoutMs: 300,
      maxReceiveCount: 1,
      stateFile: file,
    });
    expect(again.deadLetters.map((d) => JSON.parse(d.body))).toEqual([{ n: 2 }]);
    const delivered: Array<{ n: number; at: number }> = [];
    again.consume(async (event) => {
      for (const r of event.Records)
        delivered.push({ ...(JSON.parse(r.body) as { n: number }), at: Date.now() });
      return { batchItemFailures: [] };
    });
    await again.idle(10_000);
    expect(delivered.map((d) => d.n).sort()).toEqual([1, 3]);
    // The in-flight one waited for its visibility timeout to pass since it was received.
    expect(delivered.find((d) => d.n === 1)?.at ?? 0).toBeGreaterThanOrEqual(firstReceivedAt + 250);
    release();
    await first.stop(100);
  });
});
