import type { RequestShares } from '../ports/request-shares.js';
import type { Budget } from './request-budget.js';

/** At most this many of a second's requests are taken at once (what one worker may leave unused). */
const MOST_AT_ONCE = 10;

/**
 * An account's request budget shared through `RequestShares` by every worker calling the
 * account: at most `perSecond` requests in any second (unix seconds, on this clock) across all
 * of them. A worker takes a few of the current second's requests at a time (as many as are
 * waiting, up to 10) and sends them within that second; what it took and did not send by the
 * second's end is lost, never carried into the next. A second whose requests are all taken
 * waits for the next. Callers wait their turn; nobody is refused.
 *
 * The guarantee is per calendar second of the sender's clock, which is how the budget's margin
 * below Stripe's limit (80 of 100 in live mode) is spent: on requests that arrive in the second
 * after the one they were sent in, and on hosts' clocks a few milliseconds apart.
 */
export class SharedRequestBudget implements Budget {
  onSend: ((atMs: number) => void) | undefined;
  private queue: Promise<void> = Promise.resolve();
  private waiting = 0;
  /** The second this worker holds requests of, and how many it has left. */
  private second = -1;
  private left = 0;
  /** A second whose requests were all taken when this worker asked. */
  private spent = -1;
  /** Calls to the shares (a DynamoDB write each): what sharing costs. */
  takes = 0;

  constructor(
    readonly perSecond: number,
    private readonly shares: RequestShares,
    private readonly accountId: string,
    private readonly mode: 'live' | 'test',
    private readonly now: () => number = Date.now,
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
  ) {
    if (!(perSecond >= 1)) throw new Error('a request budget needs at least one request per second');
  }

  acquire(): Promise<void> {
    this.waiting++;
    const turn = this.queue
      .then(() => this.take())
      .finally(() => {
        this.waiting--;
      });
    this.queue = turn.catch(() => undefined);
    return turn;
  }

  private async take(): Promise<void> {
    for (;;) {
      const now = this.now();
      const second = Math.floor(now / 1000);
      if (this.second === second && this.left > 0) {
        this.left--;
        this.onSend?.(now);
        return;
      }
      if (this.spent === second) {
        await this.sleep((second + 1) * 1000 - now);
        continue;
      }
      const want = Math.min(MOST_AT_ONCE, this.waiting, this.perSecond);
      this.takes++;
      const granted = await this.shares.take(this.accountId, this.mode, second, want, this.perSecond);
      // Granted once that second was over, they counted against it and are lost: the check
      // above sends only in the second they were taken for.
      if (granted === 0) this.spent = second;
      this.second = second;
      this.left = granted;
    }
  }
}
