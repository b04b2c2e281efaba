/**
 * At most `perSecond` requests in any window of `windowMs` (2% over a
 * second, so that arrival jitter cannot put one request too many into one of
 * Stripe's seconds). Callers wait their turn; nobody is refused.
 */
export class RequestBudget {
  private readonly sent: number[] = [];
  private queue: Promise<void> = Promise.resolve();

  constructor(
    readonly perSecond: number,
    private readonly windowMs = 1020,
    private readonly now: () => number = Date.now,
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
  ) {
    if (!(perSecond >= 1)) throw new Error('a request budget needs at least one request per second');
  }

  /** Resolves when a request may be sent now (and counts it). */
  acquire(): Promise<void> {
    const turn = this.queue.then(() => this.take());
    this.queue = turn.catch(() => undefined);
    return turn;
  }

  private async take(): Promise<void> {
    for (;;) {
      const now = this.now();
      while (this.sent.length > 0 && (this.sent[0] as number) <= now - this.windowMs) this.sent.shift();
      if (this.sent.length < this.perSecond) {
        this.sent.push(now);
        return;
      }
      await this.sleep((this.sent[0] as number) + this.windowMs - now + 1);
    }
  }
}
