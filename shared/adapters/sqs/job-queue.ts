import { SendMessageBatchCommand, SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { JobQueue } from '../../ports/job-queue.js';

/** The JobQueue on SQS. A batch entry SQS refuses is sent again, then fails the call. */
export class SqsJobQueue<T> implements JobQueue<T> {
  constructor(
    private readonly client: SQSClient,
    private readonly queueUrl: string,
  ) {}

  async send(message: T, options?: { delaySeconds?: number }): Promise<void> {
    await this.client.send(
      new SendMessageCommand({
        QueueUrl: this.queueUrl,
        MessageBody: JSON.stringify(message),
        ...(options?.delaySeconds ? { DelaySeconds: Math.min(900, Math.ceil(options.delaySeconds)) } : {}),
      }),
    );
  }

  async sendBatch(messages: T[]): Promise<{ calls: number }> {
    let calls = 0;
    for (let i = 0; i < messages.length; i += 10) {
      let entries = messages
        .slice(i, i + 10)
        .map((message, j) => ({ Id: String(j), MessageBody: JSON.stringify(message) }));
      for (let attempt = 0; entries.length > 0; attempt++) {
        calls++;
        const result = await this.client.send(
          new SendMessageBatchCommand({ QueueUrl: this.queueUrl, Entries: entries }),
        );
        const failed = new Set((result.Failed ?? []).map((f) => f.Id));
        entries = entries.filter((e) => failed.has(e.Id));
        if (entries.length > 0 && attempt >= 2) {
          throw new Error(`SQS refused ${entries.length} message(s) of a batch three times`);
        }
        if (entries.length > 0) await new Promise((r) => setTimeout(r, 100 * 2 ** attempt));
      }
    }
    return { calls };
  }
}
