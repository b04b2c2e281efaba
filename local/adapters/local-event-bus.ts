import { randomUUID } from 'node:crypto';
import type { EventBridgeEvent } from 'aws-lambda';
import { EVENT_SCHEMAS } from '../../shared/events/catalog.js';
import type { EventPublisher } from '../../shared/ports/event-publisher.js';

/**
 * The EventBridge stand-in: keeps what was published, in EventBridge's envelope, and tells
 * listeners. Stricter than EventBridge: an event the catalog (docs/events.schema.json) does
 * not describe is refused, so every test that publishes checks the documented schemas.
 */
export class LocalEventBus implements EventPublisher {
  readonly events: Array<EventBridgeEvent<string, Record<string, unknown>>> = [];
  private readonly listeners = new Set<(event: EventBridgeEvent<string, Record<string, unknown>>) => void>();

  constructor(
    private readonly source: string,
    private readonly limit = 1000,
  ) {}

  async publish(detailType: string, detail: Record<string, unknown>): Promise<void> {
    const schema = EVENT_SCHEMAS[detailType as keyof typeof EVENT_SCHEMAS];
    if (!schema) throw new Error(`"${detailType}" is not in the event catalog (shared/events/catalog.ts)`);
    const checked = schema.strict().safeParse(detail);
    if (!checked.success)
      throw new Error(`"${detailType}" does not match its documented schema: ${checked.error.message}`);
    const event: EventBridgeEvent<string, Record<string, unknown>> = {
      version: '0',
      id: randomUUID(),
      'detail-type': detailType,
      source: this.source,
      account: '000000000000',
      time: new Date().toISOString(),
      region: 'local',
      resources: [],
      detail: structuredClone(detail),
    };
    this.events.push(event);
    if (this.events.length > this.limit) this.events.shift();
    for (const listener of this.listeners) listener(event);
  }

  subscribe(listener: (event: EventBridgeEvent<string, Record<string, unknown>>) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
