/**
 * A durable queue of jobs (SQS in AWS, an in-process stand-in locally).
 * `send` resolves only once the message is durably accepted; callers that must
 * not lose work (webhook intake) answer an error when it rejects.
 */
export interface JobQueue<T> {
  send(message: T, options?: { delaySeconds?: number }): Promise<void>;
  /** Sends in batches of at most 10 (SQS's limit); returns how many calls it took. */
  sendBatch(messages: T[]): Promise<{ calls: number }>;
}
