/**
 * A Stripe account's request limit, shared by everything that calls the account at once: the
 * workers of one backfill, and the runs of two orgs connected to the same account. Counted per
 * second (the caller's clock, unix seconds), so the account's calls in any second stay within
 * `limit` however many workers make them.
 */
export interface RequestShares {
  /**
   * Takes up to `want` of the `limit` requests of `second` for the account (in `mode`):
   * returns how many were granted, 0 when that second's are all taken.
   */
  take(accountId: string, mode: string, second: number, want: number, limit: number): Promise<number>;
}
