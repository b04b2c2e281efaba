import { RequestBudget } from '../../shared/sync/request-budget.js';

/** A budget on a clock that only moves when the budget sleeps. */
function onFakeClock(perSecond: number) {
  let now = 1_000_000;
  const budget = new RequestBudget(
    perSecond,
    1020,
    () => now,
    async (ms) => {
      now += ms;
    },
  );
  return { budget, now: () => now };
}

describe('the request budget', () => {
  it('paces requests (two at most at once), and no second of arrivals holds more than the budget', async () => {
    const { budget, now } = onFakeClock(25);
    const at: number[] = [];
    // 200 callers at once, as ten slices of a slow backfill would queue up.
    await Promise.all(Array.from({ length: 200 }, () => budget.acquire().then(() => at.push(now()))));
    // Never more than two at once (the bucket's burst)...
    for (const start of at)
      expect(at.filter((t) => t >= start && t < start + 1020 / 25).length).toBeLessThanOrEqual(2);
    // ...and with up to 20 ms of delay on the way, no second of arrivals holds more than the budget.
    for (const start of at)
      expect(at.filter((t) => t >= start && t < start + 1000 + 20).length).toBeLessThanOrEqual(25);
    // And it is not slower than the budget: 200 requests in about 8.1 s.
    expect((at.at(-1) as number) - (at[0] as number)).toBeLessThan(199 * (1020 / 25) * 1.01);
  });

  it('refuses a budget below one request a second', () => {
    expect(() => new RequestBudget(0)).toThrow(/at least one request per second/);
  });
});
