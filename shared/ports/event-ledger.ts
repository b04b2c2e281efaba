/**
 * Which webhook events were processed (30 days, as long as Stripe retries and
 * /v1/events remembers). `begin` claims an event: 'new' to process it,
 * 'retry' when an earlier attempt failed or died part way (it may have done
 * some of its work), 'done' when it already was processed, 'busy' when another
 * worker is on it right now.
 */
export interface EventLedger {
  begin(eventId: string): Promise<'new' | 'retry' | 'done' | 'busy'>;
  complete(eventId: string): Promise<void>;
  /** Gives up a claim after a failure, so the retry can take it. */
  release(eventId: string): Promise<void>;
}
