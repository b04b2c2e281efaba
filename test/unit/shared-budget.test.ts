import fc from 'fast-check';
import type { RequestShares } from '../../shared/ports/request-shares.js';
import { SharedRequestBudget } from '../../shared/sync/shared-budget.js';

/**
 * Simulated time: every wait (a budget's sleep, a DynamoDB round trip, a Stripe request) is a
 * timer, and time jumps to the next timer once nothing else can run. Deterministic, so the
 * tests assert what the budget guarantees, not what a machine's timing happened to give.
 */
class SimulatedTime {
  now = 1_800_000_000_000;
  private timers: Array<{ at: number; seq: number; resolve: () => void }> = [];
  private seq = 0;
  readonly sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      this.timers.push({ at: this.now + Math.max(0, ms), seq: this.seq++, resolve });
    });

  async runUntil(done: Promise<unknown>): Promise<void> {
    let finished = false;
    const settled = done.then(
      () => {
        finished = true;
      },
      () => {
        finished = true;
      },
    );
    while (!finished) {
      await new Promise((resolve) => setImmediate(resolve));
      if (finished) break;
      this.timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.timers.shift();
      if (!next) throw new Error('nothing left to run, and the callers are still waiting');
      this.now = Math.max(this.now, next.at);
      next.resolve();
    }
    await settled;
  }
}

/** Shares kept in memory, each take answered `latencyMs` later (counted halfway, as a server would). */
function memoryShares(time: SimulatedTime, latencyMs: number) {
  const sent = new Map<string, number>();
  let takes = 0;
  const shares: RequestShares = {
    async take(accountId, mode, second, want, limit) {
      takes++;
      await time.sleep(latencyMs / 2);
      const key = `${accountId}#${mode}#${second}`;
      const n = Math.max(0, Math.min(want, limit - (sent.get(key) ?? 0)));
      sent.set(key, (sent.get(key) ?? 0) + n);
      await time.sleep(latencyMs / 2);
      return n;
    },
  };
  return { shares, takes: () => takes };
}

interface Setup {
  perSecond: number;
  workers: number;
  loopsPerWorker: number;
  requestsPerLoop: number;
  takeLatencyMs: number;
  stripeLatencyMs: number;
}

/** Workers each running loops of Stripe requests through their own budget over one set of shares. */
async function simulate(setup: Setup) {
  const time = new SimulatedTime();
  const { shares, takes } = memoryShares(time, setup.takeLatencyMs);
  const sends: number[] = [];
  const budgets = Array.from(
    { length: setup.workers },
    () => new SharedRequestBudget(setup.perSecond, shares, 'acct_1', 'live', () => time.now, time.sleep),
  );
  for (const budget of budgets) budget.onSend = (at) => sends.push(at);
  const started = time.now;
  const work = Promise.all(
    budgets.flatMap((budget) =>
      Array.from({ length: setup.loopsPerWorker }, async () => {
        for (let i = 0; i < setup.requestsPerLoop; i++) {
          await budget.acquire();
          await time.sleep(setup.stripeLatencyMs);
        }
      }),
    ),
  );
  await time.runUntil(work);
  const perSecond = new Map<number, number>();
  for (const at of sends)
    perSecond.set(Math.floor(at / 1000), (perSecond.get(Math.floor(at / 1000)) ?? 0) + 1);
  return { sends, perSecond, takes: takes(), elapsedMs: time.now - started };
}

describe('the request budget shared across workers', () => {
  it('never lets the workers together send more than the budget in any second, and every request goes', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          perSecond: fc.integer({ min: 1, max: 100 }),
          workers: fc.integer({ min: 1, max: 8 }),
          loopsPerWorker: fc.integer({ min: 1, max: 20 }),
          requestsPerLoop: fc.integer({ min: 1, max: 12 }),
          takeLatencyMs: fc.integer({ min: 0, max: 80 }),
          stripeLatencyMs: fc.integer({ min: 0, max: 400 }),
        }),
        async (setup) => {
          const { sends, perSecond } = await simulate(setup);
          expect(sends).toHaveLength(setup.workers * setup.loopsPerWorker * setup.requestsPerLoop);
          for (const n of perSecond.values()) expect(n).toBeLessThanOrEqual(setup.perSecond);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('uses the budget when the workers ask for more than it: eight workers at 300 ms pages fill 80 a second', async () => {
    const { sends, perSecond, takes } = await simulate({
      perSecond: 80,
      workers: 8,
      loopsPerWorker: 6,
      requestsPerLoop: 100,
      takeLatencyMs: 10,
      stripeLatencyMs: 300,
    });
    const seconds = [...perSecond.keys()].sort((a, b) => a - b);
    // Every second but the first and the last (partly used) is full, or nearly: a take that
    // straddles a second's end loses what it took.
    const middle = seconds.slice(1, -1).map((s) => perSecond.get(s) as number);
    expect(middle.length).toBeGreaterThan(40);
    const mean = middle.reduce((a, b) => a + b, 0) / middle.length;
    expect(mean).toBeGreaterThanOrEqual(0.95 * 80);
    // Sharing costs a DynamoDB write per few requests (each take is what is waiting then), not
    // one per request.
    expect(takes).toBeLessThan(sends.length / 2);
  });

  it('loses what was granted too late for its second, and sends it in none', async () => {
    const time = new SimulatedTime();
    time.now = 1_800_000_000_900; // 100 ms before a second ends
    const asked: number[] = [];
    const shares: RequestShares = {
      async take(_account, _mode, second, want) {
        asked.push(second);
        await time.sleep(150); // answered in the next second
        return want;
      },
    };
    const budget = new SharedRequestBudget(5, shares, 'acct_1', 'live', () => time.now, time.sleep);
    const at: number[] = [];
    budget.onSend = (t) => at.push(t);
    await time.runUntil(budget.acquire());
    // The first answer came after its second ended: the request waited for a take of the next.
    expect(asked).toEqual([1_800_000_000, 1_800_000_001]);
    expect(at.map((t) => Math.floor(t / 1000))).toEqual([1_800_000_001]);
  });

  it('passes a failure of the shares to the caller, and the next caller still gets through', async () => {
    let fail = true;
    const shares: RequestShares = {
      async take(_a, _m, _s, want) {
        if (fail) {
          fail = false;
          throw new Error('ProvisionedThroughputExceededException');
        }
        return want;
      },
    };
    const budget = new SharedRequestBudget(5, shares, 'acct_1', 'live');
    await expect(budget.acquire()).rejects.toThrow('ProvisionedThroughputExceededException');
    await expect(budget.acquire()).resolves.toBeUndefined();
  });

  it('refuses a budget below one request a second', () => {
    const shares: RequestShares = { take: async () => 0 };
    expect(() => new SharedRequestBudget(0, shares, 'acct_1', 'live')).toThrow(
      /at least one request per second/,
    );
  });
});
