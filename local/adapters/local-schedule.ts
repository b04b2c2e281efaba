import { randomUUID } from 'node:crypto';
import type { Context, ScheduledEvent } from 'aws-lambda';
import { lambdaContext } from '../lambda-context.js';

export type ScheduledHandler = (event: ScheduledEvent, context: Context) => Promise<unknown>;

/**
 * The EventBridge schedule stand-in: `trigger()` invokes the target the way a
 * schedule rule would (an admin control calls it), and `start(intervalMs)`
 * adds an optional timer. Runs never overlap.
 */
export class LocalSchedule {
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<unknown> | undefined;
  runs = 0;

  constructor(
    private readonly name: string,
    private readonly target: ScheduledHandler,
  ) {}

  async trigger(): Promise<unknown> {
    if (this.inFlight) return this.inFlight;
    const event: ScheduledEvent = {
      version: '0',
      id: randomUUID(),
      'detail-type': 'Scheduled Event',
      source: 'aws.events',
      account: '000000000000',
      time: new Date().toISOString(),
      region: 'local',
      resources: [`arn:aws:events:local:000000000000:rule/${this.name}`],
      detail: {},
    };
    this.runs++;
    this.inFlight = this.target(event, lambdaContext(this.name)).finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  start(intervalMs: number): void {
    this.stop();
    this.timer = setInterval(() => {
      void this.trigger().catch(() => undefined);
    }, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
