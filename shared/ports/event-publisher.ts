/** Publishes domain events for Defrr (EventBridge in AWS, an in-process bus locally). */
export interface EventPublisher {
  publish(detailType: string, detail: Record<string, unknown>): Promise<void>;
}
