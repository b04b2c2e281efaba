import type { RequestShares } from '../../shared/ports/request-shares.js';

/** What every `RequestShares` adapter must do: DynamoDB's (on dynalite and on moto). */
export function requestSharesContract(name: string, make: () => RequestShares) {
  describe(name, () => {
    it('never grants more than the limit of a second to takers at once, and loses none of it', async () => {
      const shares = make();
      const account = `acct_1Shares${Date.now()}`.padEnd(24, '0');
      const second = 1_800_000_123;
      const granted = await Promise.all(
        Array.from({ length: 20 }, () => shares.take(account, 'live', second, 10, 80)),
      );
      const total = granted.reduce((a, b) => a + b, 0);
      expect(total).toBeLessThanOrEqual(80);
      // What is left of the second, one at a time: together exactly the limit.
      let rest = 0;
      while ((await shares.take(account, 'live', second, 1, 80)) === 1) rest++;
      expect(total + rest).toBe(80);
      await expect(shares.take(account, 'live', second, 5, 80)).resolves.toBe(0);
      // Another second, mode or account has its own.
      await expect(shares.take(account, 'live', second + 1, 10, 80)).resolves.toBe(10);
      await expect(shares.take(account, 'test', second, 10, 80)).resolves.toBe(10);
      await expect(shares.take(`${account}x`, 'live', second, 10, 80)).resolves.toBe(10);
    });

    it('gives what is left of a nearly spent second (halving what it asks for), never more', async () => {
      const shares = make();
      const account = `acct_1Nearly${Date.now()}`.padEnd(24, '0');
      const second = 1_800_000_456;
      await expect(shares.take(account, 'live', second, 7, 10)).resolves.toBe(7);
      // 3 left: 8 does not fit, nor 4; 2 does.
      await expect(shares.take(account, 'live', second, 8, 10)).resolves.toBe(2);
      await expect(shares.take(account, 'live', second, 8, 10)).resolves.toBe(1);
      await expect(shares.take(account, 'live', second, 8, 10)).resolves.toBe(0);
      // Asking for more than a second's limit asks for the limit.
      await expect(shares.take(account, 'live', second + 1, 50, 10)).resolves.toBe(10);
    });
  });
}
