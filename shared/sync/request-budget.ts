/** What a sync run's Stripe calls wait on: one request at a time, within the account's rate. */
export interface Budget {
  readonly perSecond: number;
  /** Resolves when a request may be sent now (and counts it). */
  acquire(): Promise<void>;
  /** Told the time of every request let through (by the clock the budget decided on). */
  onSend: ((atMs: number) => void) | undefined;
}

/**
 * At most `perSecond` requests in any window of `windowMs` (2% over a
 * second, so that arrival jitter cannot put one request too many into one of
 * Stripe's seconds), and no bursts: the requests are paced by a token bucket
 * that refills at the same rate and holds at most `burst` of them. Without
 * the pacing, requests waiting for the window went out in bursts as it slid,
 * and a few dozen milliseconds of delay on the way could put 27 of them into
 * one of Stripe's seconds. Callers wait their turn; nobody is refused.
 */
export class RequestBudget implements Budget {
  private readonly sent: number[] = [];
  private queue: Promise<void> = Promise.resolve();
  private readonly refillMs: number;
  private tokens: number;
  private refilledAt: number | undefined;
  /** Told the time of every request let through (by the clock the budget decided on). */
  onSend: ((atMs: number) => void) | undefined;

  constructor(
    readonly perSecond: number,
    private readonly windowMs = 1020,
    private readonly now: () => number = Date.now,
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
    private readonly burst = 2,
  ) {
    if (!(perSecond >= 1)) throw new Error('a request budget needs at least one request per second');
    this.refillMs = windowMs / perSecond;
    this.tokens = burst;
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
      this.tokens = Math.min(this.burst, this.tokens + (now - (this.refilledAt ?? now)) / this.refillMs);
      this.refilledAt = now;
      while (this.sent.length > 0 && (this.sent[0] as number) <= now - this.windowMs) this.sent.shift();
      const waitMs =
        this.sent.length >= this.perSecond
          ? (this.sent[0] as number) + this.windowMs - now + 1
          : Math.ceil((1 - this.tokens) * this.refillMs);
      if (waitMs <= 0) {
        this.tokens -= 1;
        this.sent.push(now);
        this.onSend?.(now);
        return;
      }
      await this.sleep(waitMs);
    }
  }
}
