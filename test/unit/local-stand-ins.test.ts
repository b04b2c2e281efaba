import { LocalEventBus } from '../../local/adapters/local-event-bus.js';
import { LocalSchedule } from '../../local/adapters/local-schedule.js';

describe('LocalEventBus', () => {
  it('wraps detail in the EventBridge envelope and tells subscribers', async () => {
    const bus = new LocalEventBus('defrr.test');
    const seen: string[] = [];
    bus.subscribe((e) => seen.push(e['detail-type']));
    const detail = {
      orgId: 'org_1',
      connection: 'test_acct_1',
      accountId: 'acct_1',
      connectionId: 'conn_1',
      livemode: false,
      at: '2026-12-06T00:00:00.000Z',
    };
    await bus.publish('Stripe Connection Connected', detail);
    expect(bus.events[0]).toMatchObject({
      source: 'defrr.test',
      'detail-type': 'Stripe Connection Connected',
      detail,
    });
    expect(seen).toEqual(['Stripe Connection Connected']);
  });

  it('refuses what the documented catalog does not describe, as a test must see it', async () => {
    const bus = new LocalEventBus('defrr.test');
    await expect(bus.publish('Stripe Sync Completed', { orgId: 'org_1' })).rejects.toThrow(
      /does not match its documented schema/,
    );
    await expect(bus.publish('Stripe Something Else', {})).rejects.toThrow(/not in the event catalog/);
    expect(bus.events).toEqual([]);
  });
});

describe('LocalSchedule', () => {
  it('invokes its target with a scheduled event, and never overlaps runs', async () => {
    let release: () => void = () => undefined;
    const calls: unknown[] = [];
    const schedule = new LocalSchedule('nightly', async (event) => {
      calls.push(event);
      await new Promise<void>((resolve) => {
        release = resolve;
      });
    });
    const first = schedule.trigger();
    const second = schedule.trigger();
    release();
    await Promise.all([first, second]);
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ source: 'aws.events', 'detail-type': 'Scheduled Event' });
  });

  it('runs on a timer when started', async () => {
    let runs = 0;
    const schedule = new LocalSchedule('nightly', async () => {
      runs++;
    });
    schedule.start(10);
    await new Promise((r) => setTimeout(r, 60));
    schedule.stop();
    expect(runs).toBeGreaterThanOrEqual(2);
  });
});
