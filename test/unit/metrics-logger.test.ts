import { logger } from '../../shared/logger.js';
import { metrics, metricsLogger } from '../../shared/metrics.js';

describe("Powertools metrics' own messages", () => {
  afterEach(() => jest.restoreAllMocks());

  it('an invocation that added no metric is a debug line, not a warning at every flush', () => {
    const warn = jest.spyOn(logger, 'warn').mockImplementation(() => undefined);
    const debug = jest.spyOn(logger, 'debug').mockImplementation(() => undefined);
    metrics.publishStoredMetrics();
    expect(warn).not.toHaveBeenCalled();
    expect(debug).toHaveBeenCalledWith(expect.stringContaining('No application metrics to publish'));
  });

  it('any other warning is still one, through the service’s logger', () => {
    const warn = jest.spyOn(logger, 'warn').mockImplementation(() => undefined);
    metricsLogger.warn('Dimension limit reached', { limit: 29 });
    expect(warn).toHaveBeenCalledWith('Dimension limit reached', { limit: 29 });
  });
});
