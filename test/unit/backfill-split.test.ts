import { pagesInFlight, SPLIT_AFTER_SLOW_PAGES, SPLIT_MIN_LATENCY_MS } from '../../shared/sync/backfill.js';

/**
 * Whether a backfill splits is decided from Stripe's latency; here the
 * latencies are given, so the decision is checked without depending on how
 * fast this machine happens to be.
 */
describe('how many backfill pages to keep in flight', () => {
  const budget = 25;
  const maxSlices = 12;
  const decisions = (latencies: number[]) =>
    latencies.map((_, i) => pagesInFlight(latencies.slice(0, i + 1), budget, maxSlices));

  it('keeps one page in flight before any page came back', () => {
    expect(pagesInFlight([], budget, maxSlices)).toBe(1);
  });

  it('does not split for one slow first page (a new connection) or one very slow later page (a pause)', () => {
    // 15 pages: the first 40 ms, the 4th 250 ms, the rest as fast as a local Stripe.
    const latencies = Array.from({ length: 15 }, (_, i) => (i === 0 ? 40 : i === 3 ? 250 : 8));
    expect(decisions(latencies)).toEqual(Array(15).fill(1));
  });

  it('splits once pages were slow two in a row, as many as the budget can use', () => {
    // 300 ms a page at 25 requests/s: ceil(25 × 0.3 × 1.25) = 10 pages in flight.
    expect(SPLIT_AFTER_SLOW_PAGES).toBe(2);
    expect(pagesInFlight([300], budget, maxSlices)).toBe(1);
    expect(pagesInFlight([300, 300], budget, maxSlices)).toBe(10);
    expect(pagesInFlight([300, 300, 300], budget, maxSlices)).toBe(10);
    // The faster of the two decides.
    expect(pagesInFlight([300, 200], budget, maxSlices)).toBe(7);
  });

  it('does not split while a busy machine makes its local Stripe slow now and then', () => {
    // Slow pages (a loaded machine) among fast ones: never two slow in a row.
    const noisy = Array.from({ length: 200 }, (_, i) => (i % 2 === 1 ? 20 : 400));
    expect(decisions(noisy)).toEqual(Array(200).fill(1));
  });

  it('follows Stripe when it becomes slow for good, and back when it is fast again', () => {
    const slow = Array(8).fill(400);
    expect(pagesInFlight([8, 8, 8, 8, ...slow.slice(0, 1)], budget, maxSlices)).toBe(1);
    expect(pagesInFlight([8, 8, 8, 8, ...slow], budget, maxSlices)).toBe(maxSlices);
    expect(pagesInFlight([...slow, ...Array(8).fill(8)], budget, maxSlices)).toBe(1);
  });

  it('keeps one page in flight while Stripe answers faster than the split floor, whatever the budget', () => {
    // At Stripe's live limit, 100 ms pages would want ceil(100 × 0.1 × 1.25) = 13: a split costs
    // probes and partial pages, so below the floor the list requests stay at ceil(n/100).
    const fast = Array(8).fill(SPLIT_MIN_LATENCY_MS - 1);
    expect(pagesInFlight(fast, 100, maxSlices)).toBe(1);
    expect(pagesInFlight([...fast.slice(0, 7), SPLIT_MIN_LATENCY_MS], 100, maxSlices)).toBe(1);
    expect(pagesInFlight([...fast.slice(0, 6), ...Array(2).fill(SPLIT_MIN_LATENCY_MS)], 100, 32)).toBe(
      Math.ceil((100 * SPLIT_MIN_LATENCY_MS * 1.25) / 1000),
    );
  });

  it('never exceeds the configured slices, and never splits when splitting is off', () => {
    expect(pagesInFlight(Array(2).fill(5000), budget, maxSlices)).toBe(maxSlices);
    expect(pagesInFlight(Array(2).fill(5000), budget, 1)).toBe(1);
  });
});
