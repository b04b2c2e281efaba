import fc from 'fast-check';
import { CLOCK_SKEW_MS, whenUninstalled } from '../../shared/webhooks/process.js';

describe('whose uninstall an account.application.deauthorized is', () => {
  const grantedMs = Date.parse('2026-12-01T10:00:00.000Z');
  const connection = { connectedAt: '2026-12-01T10:05:00.000Z', authorizedAt: '2026-12-01T10:00:00.000Z' };
  const at = (offsetSeconds: number) => ({ created: grantedMs / 1000 + offsetSeconds });

  it('is an earlier install’s only when clearly older than the grant, this one’s only when clearly newer', () => {
    expect(whenUninstalled(at(-5 * 60), connection)).toBe('before');
    expect(whenUninstalled(at(-62), connection)).toBe('before');
    expect(whenUninstalled(at(-61), connection)).toBe('in_doubt'); // Stripe's whole second may be 1 s early
    expect(whenUninstalled(at(-30), connection)).toBe('in_doubt');
    expect(whenUninstalled(at(0), connection)).toBe('in_doubt');
    expect(whenUninstalled(at(60), connection)).toBe('in_doubt');
    expect(whenUninstalled(at(61), connection)).toBe('after');
    // Between the grant and the user's confirmation it is this install's: the grant counts, not connectedAt.
    expect(whenUninstalled(at(120), connection)).toBe('after');
  });

  it('falls back to connectedAt for connections made before the grant was kept', () => {
    expect(whenUninstalled(at(120), { connectedAt: connection.connectedAt })).toBe('before');
    expect(whenUninstalled(at(5 * 60), { connectedAt: connection.connectedAt })).toBe('in_doubt');
  });

  it('never calls an uninstall within the clocks’ skew of the grant either side’s for sure', () => {
    fc.assert(
      fc.property(fc.integer({ min: -CLOCK_SKEW_MS / 1000 + 1, max: CLOCK_SKEW_MS / 1000 }), (offset) => {
        expect(whenUninstalled(at(offset), connection)).toBe('in_doubt');
      }),
    );
  });
});
