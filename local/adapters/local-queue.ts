import { randomUUID } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import type { JobQueue } from '../../shared/ports/job-queue.js';
import { invoke } from '../invocation.js';
import { lambdaContext } from '../lambda-context.js';

export type SqsHandler = (event: SQSEvent, context: Context) => Promise<unknown>;

interface Message {
  messageId: string;
  body: string;
  sentAt: number;
  receiveCount: number;
  visibleAt: number;
  /** When it was last handed to a consumer (it is in flight while `visibleAt` is infinite). */
  receivedAt?: number;
}

export interface LocalQueueOptions {
  name: string;
  /** Attempts before a message moves to the dead-letter list (SQS's maxReceiveCount). */
  maxReceiveCount?: number;
  /** Messages per handler call (the event source mapping's batch size). */
  batchSize?: number;
  /** Handler calls at once (the mapping's maximum concurrency). */
  maxConcurrency?: number;
  /** How long a failed message stays invisible before it is retried. */
  visibilityTimeoutMs?: number;
  /** Lambda's timeout, for `context.getRemainingTimeInMillis()`. */
  functionTimeoutMs?: number;
  /**
   * Where the queue keeps its messages and dead letters, as SQS keeps them
   * across a consumer's restart; memory only when unset. A message in flight
   * when the process stopped is delivered again once its visibility timeout
   * has passed, as SQS would.
   */
  stateFile?: string;
}

interface SavedQueue {
  version: 1;
  messages: Array<Omit<Message, 'visibleAt'> & { visibleAt: number | 'in_flight'; receivedAt?: number }>;
  deadLetters: Array<{ messageId: string; body: string; receiveCount: number }>;
}

/**
 * The SQS stand-in: the same JobQueue port the SQS adapter implements on the
 * producer side, and on the consumer side SQS-shaped events delivered to a
 * Lambda handler with partial batch failures, retries, and a dead-letter list.
 */
export class LocalQueue<T> implements JobQueue<T> {
  readonly deadLetters: Array<{ messageId: string; body: string; receiveCount: number }> = [];
  private readonly messages: Message[] = [];
  private handler: SqsHandler | undefined;
  private running = 0;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private paused = false;
  private readonly idleWaiters: Array<() => void> = [];
  readonly options: Required<Omit<LocalQueueOptions, 'stateFile'>> & { stateFile?: string };
  private saveTimer: NodeJS.Timeout | undefined;
  sendBatchCalls = 0;
  /** Every message ever accepted (tests check that refused webhooks queue nothing). */
  sent = 0;

  constructor(options: LocalQueueOptions) {
    this.options = {
      maxReceiveCount: 5,
      batchSize: 10,
      maxConcurrency: 2,
      visibilityTimeoutMs: 1000,
      functionTimeoutMs: 60_000,
      ...options,
    };
    if (options.stateFile) this.restore(options.stateFile);
  }

  private restore(file: string) {
    let saved: SavedQueue;
    try {
      saved = JSON.parse(readFileSync(file, 'utf8')) as SavedQueue;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw new Error(`cannot read the queue state file ${file}: ${(error as Error).message}`);
    }
    for (const m of saved.messages) {
      this.messages.push({
        ...m,
        visibleAt:
          m.visibleAt === 'in_flight'
            ? (m.receivedAt ?? Date.now()) + this.options.visibilityTimeoutMs
            : m.visibleAt,
      });
    }
    this.deadLetters.push(...saved.deadLetters);
  }

  /** Written at once when a message is accepted (a send must be durable), soon after other changes. */
  private persist(now = false) {
    const file = this.options.stateFile;
    if (!file) return;
    if (!now) {
      this.saveTimer ??= setTimeout(() => {
        this.saveTimer = undefined;
        this.persist(true);
      }, 100);
      return;
    }
    if (this.saveTimer) clearTimeout(this.saveTimer);
    this.saveTimer = undefined;
    const state: SavedQueue = {
      version: 1,
      messages: this.messages.map((m) => ({
        ...m,
        visibleAt: Number.isFinite(m.visibleAt) ? m.visibleAt : 'in_flight',
      })),
      deadLetters: this.deadLetters,
    };
    writeFileSync(`${file}.tmp`, JSON.stringify(state), { mode: 0o600 });
    renameSync(`${file}.tmp`, file);
  }

  async send(message: T, options?: { delaySeconds?: number }): Promise<void> {
    this.enqueue(JSON.stringify(message), (options?.delaySeconds ?? 0) * 1000);
  }

  async sendBatch(messages: T[]): Promise<{ calls: number }> {
    let calls = 0;
    for (let i = 0; i < messages.length; i += 10) {
      calls++;
      this.sendBatchCalls++;
      for (const message of messages.slice(i, i + 10)) this.enqueue(JSON.stringify(message), 0);
    }
    return { calls };
  }

  private enqueue(body: string, delayMs: number) {
    if (Buffer.byteLength(body) > 256 * 1024) throw new Error('message larger than SQS allows (256 KiB)');
    const now = Date.now();
    this.sent++;
    this.messages.push({
      messageId: randomUUID(),
      body,
      sentAt: now,
      receiveCount: 0,
      visibleAt: now + delayMs,
    });
    this.persist(true);
    this.pump();
  }

  /** Attaches the consumer (the Lambda handler an event source mapping would call). */
  consume(handler: SqsHandler): void {
    this.handler = handler;
    this.pump();
  }

  get depth(): number {
    return this.messages.length;
  }

  /** Resolves when nothing is queued or in flight (tests and the dev console). */
  async idle(timeoutMs = 60_000): Promise<void> {
    if (this.messages.length === 0 && this.running === 0) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`queue ${this.options.name} not idle after ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.idleWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Moves dead letters back onto the queue (the DLQ redrive). */
  redrive(): number {
    const letters = this.deadLetters.splice(0);
    for (const letter of letters) this.enqueue(letter.body, 0);
    return letters.length;
  }

  /** Drops the messages waiting to be received, as SQS's PurgeQueue does; returns how many. */
  purge(): number {
    const before = this.messages.length;
    const inFlight = this.messages.filter((m) => !Number.isFinite(m.visibleAt));
    this.messages.splice(0, this.messages.length, ...inFlight);
    this.persist();
    return before - inFlight.length;
  }

  /** Holds deliveries (messages keep arriving); `resume` lets them flow again. */
  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    this.pump();
  }

  /**
   * Stops delivering and waits (up to `timeoutMs`) for handlers in flight;
   * their Lambda context reports no time left, so a sync saves and stops.
   */
  async stop(timeoutMs = 15_000): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    const deadline = Date.now() + timeoutMs;
    while (this.running > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    this.persist(true);
  }

  private pump() {
    if (this.stopped || this.paused || !this.handler) return;
    const now = Date.now();
    while (this.running < this.options.maxConcurrency) {
      const batch = this.takeVisible(now);
      if (batch.length === 0) break;
      this.running++;
      void this.deliver(batch).finally(() => {
        this.running--;
        this.pump();
      });
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const next = this.messages
      .filter((m) => m.visibleAt > now)
      .reduce((min, m) => Math.min(min, m.visibleAt), Infinity);
    if (Number.isFinite(next)) {
      this.timer = setTimeout(() => this.pump(), Math.max(1, next - now));
    }
    if (this.messages.length === 0 && this.running === 0) {
      for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
  }

  private takeVisible(now: number): Message[] {
    const batch: Message[] = [];
    for (const message of this.messages) {
      if (batch.length >= this.options.batchSize) break;
      if (message.visibleAt <= now) batch.push(message);
    }
    for (const message of batch) {
      message.receiveCount++;
      // In flight: invisible until handled (or until the visibility timeout).
      message.visibleAt = Number.POSITIVE_INFINITY;
      message.receivedAt = now;
    }
    if (batch.length > 0) this.persist();
    return batch;
  }

  private async deliver(batch: Message[]) {
    const handler = this.handler as SqsHandler;
    const started = Date.now();
    const event: SQSEvent = { Records: batch.map((m) => this.record(m)) };
    const base = lambdaContext(this.options.name, started, this.options.functionTimeoutMs);
    const context = {
      ...base,
      getRemainingTimeInMillis: () => (this.stopped ? 0 : base.getRemainingTimeInMillis()),
    };
    let failed: Set<string>;
    try {
      // Lambda handlers may return nothing (all succeeded) or a partial batch response.
      const response = (await invoke(context, () => handler(event, context))) as SQSBatchResponse | undefined;
      failed = new Set((response?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
    } catch {
      failed = new Set(batch.map((m) => m.messageId)); // a thrown error fails the whole batch, as in Lambda
    }
    for (const message of batch) {
      const index = this.messages.indexOf(message);
      if (index < 0) continue;
      if (!failed.has(message.messageId)) {
        this.messages.splice(index, 1);
      } else if (message.receiveCount >= this.options.maxReceiveCount) {
        this.messages.splice(index, 1);
        this.deadLetters.push({
          messageId: message.messageId,
          body: message.body,
          receiveCount: message.receiveCount,
        });
      } else {
        message.visibleAt = Date.now() + this.options.visibilityTimeoutMs;
      }
    }
    this.persist();
  }

  private record(m: Message): SQSRecord {
    return {
      messageId: m.messageId,
      receiptHandle: `${m.messageId}#${m.receiveCount}`,
      body: m.body,
      attributes: {
        ApproximateReceiveCount: String(m.receiveCount),
        SentTimestamp: String(m.sentAt),
        SenderId: 'local',
        ApproximateFirstReceiveTimestamp: String(m.sentAt),
      },
      messageAttributes: {},
      md5OfBody: '',
      eventSource: 'aws:sqs',
      eventSourceARN: `arn:aws:sqs:local:000000000000:${this.options.name}`,
      awsRegion: 'local',
    };
  }
}
