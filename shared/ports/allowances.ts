/** Per-org rate limits in fixed windows (connect starts, say). */
export interface AllowanceStore {
  /**
   * Counts one use of a per-org allowance in the current fixed window
   * (`windowSeconds`); false once `limit` uses were counted in it.
   */
  takeAllowance(
    orgId: string,
    name: string,
    limit: number,
    windowSeconds: number,
    nowMs: number,
  ): Promise<boolean>;
}
