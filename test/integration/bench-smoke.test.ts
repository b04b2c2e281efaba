import { runBenchmarks, table } from '../../bench/run.js';

jest.setTimeout(300_000);

/** The benchmarks at tiny sizes, so their code cannot rot. No thresholds: `npm run bench` has those. */
it('runs every benchmark and reports every key as a number', async () => {
  const results = await runBenchmarks('smoke', () => undefined);
  const numbers: Array<[string, unknown]> = [
    ['backfill.records', results.backfill.records],
    ['backfill.syncSeconds', results.backfill.syncSeconds],
    ['backfill.fetchOnlySeconds', results.backfill.fetchOnlySeconds],
    ['backfill.writeOnlySeconds', results.backfill.writeOnlySeconds],
    ['backfill.ratio', results.backfill.ratio],
    ['backfill.requestsPer1000', results.backfill.requestsPer1000],
    ['latencyBound.recordsPerSecond', results.latencyBound.recordsPerSecond],
    ['latencyBound.boundRecordsPerSecond', results.latencyBound.boundRecordsPerSecond],
    ['latencyBound.allowedRecordsPerSecond', results.latencyBound.allowedRecordsPerSecond],
    ['latencyBound.fraction', results.latencyBound.fraction],
    ['latencyBound.plainRecordsPerSecond', results.latencyBound.plainRecordsPerSecond],
    ['latencyBound.plainRatio', results.latencyBound.plainRatio],
    ['baseline.plainRecordsPerSecond', results.baseline.plainRecordsPerSecond],
    ['baseline.serviceRecordsPerSecond', results.baseline.serviceRecordsPerSecond],
    ['baseline.ratio', results.baseline.ratio],
    ['baseline.plainCpuMsPerRecord', results.baseline.plainCpuMsPerRecord],
    ['baseline.serviceCpuMsPerRecord', results.baseline.serviceCpuMsPerRecord],
    ['baseline.cpuRatio', results.baseline.cpuRatio],
    ['baseline.dynamo.requestsPer1000', results.baseline.dynamo.requestsPer1000],
    ['baseline.dynamo.writeUnitsPer1000', results.baseline.dynamo.writeUnitsPer1000],
    ['baseline.dynamo.indexWriteUnitsPer1000', results.baseline.dynamo.indexWriteUnitsPer1000],
    ['baseline.dynamo.readUnitsPer1000', results.baseline.dynamo.readUnitsPer1000],
    ['coldStart.maxHttpLibrariesRatio', results.coldStart.maxHttpLibrariesRatio],
    ['coldStart.maxHttpOverFloorMs', results.coldStart.maxHttpOverFloorMs],
    ['latencyBound.sequentialRecordsPerSecond', results.latencyBound.sequentialRecordsPerSecond],
    ['latencyBound.maxRequestsInAnySecond', results.latencyBound.maxRequestsInAnySecond],
    ['incremental.requestsNoChange', results.incremental.requestsNoChange],
    ['incremental.requestsFor1000New', results.incremental.requestsFor1000New],
    ['coldStart.maxInitRatio', results.coldStart.maxInitRatio],
    ['coldStart.sourceMaps.withMs', results.coldStart.sourceMaps.withMs],
    ['coldStart.sourceMaps.withoutMs', results.coldStart.sourceMaps.withoutMs],
    ['webhook.requestsPerSecond', results.webhook.requestsPerSecond],
    ['webhook.p99Ms', results.webhook.p99Ms],
    ['webhook.bareRequestsPerSecond', results.webhook.bareRequestsPerSecond],
    ['webhook.ratio', results.webhook.ratio],
    ['webhook.non2xx', results.webhook.non2xx],
    ['fanout.connections', results.fanout.connections],
    ['fanout.seconds', results.fanout.seconds],
    ['fanout.batchCalls', results.fanout.batchCalls],
    ['nightly.runSeconds.mean', results.nightly.runSeconds.mean],
    ['nightly.model.concurrencyNeeded', results.nightly.model.concurrencyNeeded],
    ['nightly.model.minutesAtShipped', results.nightly.model.minutesAtShipped],
    ['nightly.model.lambdaDollarsPerNight', results.nightly.model.lambdaDollarsPerNight],
    ['nightly.model.dynamoDollarsPerNight', results.nightly.model.dynamoDollarsPerNight],
    ['multiWorker.recordsPerSecond', results.multiWorker.recordsPerSecond],
    ['multiWorker.fraction', results.multiWorker.fraction],
    ['multiWorker.projectedFraction', results.multiWorker.projectedFraction],
    ['multiWorker.maxRequestsInAnySecond', results.multiWorker.maxRequestsInAnySecond],
    ['multiWorker.maxSentInAnySecond', results.multiWorker.maxSentInAnySecond],
    ['multiWorker.rateLimited', results.multiWorker.rateLimited],
    ['multiWorker.workerCpuMsPerRecord', results.multiWorker.workerCpuMsPerRecord],
  ];
  for (const [key, value] of numbers) {
    expect([key, typeof value, Number.isFinite(value)]).toEqual([key, 'number', true]);
  }
  expect(results.backfill.records).toBe(300);
  // The worker processes' backfill: the records are Stripe's (the oracle), and it completed.
  expect(results.multiWorker).toMatchObject({ records: 2000, workers: 2, exact: true });
  expect(results.multiWorker.outcomes).toContain('completed');
  // What the workers let through in any second never passed the live budget (80).
  expect(results.multiWorker.maxSentInAnySecond).toBeLessThanOrEqual(80);
  expect(results.fanout.connections).toBe(30);
  // Every connection ran in each nightly round, through the dispatcher and the queue, and read Stripe.
  expect(results.nightly.rounds.map((r) => r.connections)).toEqual([6]);
  expect(results.nightly.rounds[0]?.stripeRequestsPerRun).toBeGreaterThan(1);
  // A run waits on Stripe: at 300 ms a request, no run takes less.
  expect(results.nightly.runSeconds.p50).toBeGreaterThanOrEqual(0.3);
  for (const fn of Object.values(results.coldStart.functions)) {
    expect(fn).toEqual({
      bytes: expect.any(Number),
      initMs: expect.any(Number),
      floorInitMs: expect.any(Number),
      ratio: expect.any(Number),
      includesStripe: expect.any(Boolean),
      floorBytes: expect.any(Number),
      floorClients: expect.any(Array),
      http: expect.any(Boolean),
      librariesInitMs: expect.any(Number),
      librariesRatio: expect.any(Number),
      overFloorMs: expect.any(Number),
    });
  }
  // The HTTP functions are those behind a route; the queue and schedule consumers are not.
  expect(results.coldStart.functions.status?.http).toBe(true);
  expect(results.coldStart.functions['sync-worker']?.http).toBe(false);
  // Each turn of the plain loop read the whole account, as the service did.
  expect(results.baseline.records).toBe(300);
  // Every record went out in a BatchWriteItem of at most 25, which consumed a unit per record at least.
  expect(results.baseline.dynamo.requests.BatchWriteItemCommand).toBeGreaterThanOrEqual(300 / 25);
  expect(results.baseline.dynamo.writeUnitsPer1000).toBeGreaterThanOrEqual(1000);
  // And each went into the feed index, which DynamoDB bills beside the table (dynalite does not say).
  expect(results.baseline.dynamo.indexWriteUnitsPer1000).toBeGreaterThanOrEqual(1000);
  expect(results.machine.loadAverage.before).toHaveLength(3);
  // Each floor holds the clients its function uses: a floor of bare imports held none
  // but DynamoDB's, since the SDK's packages are side-effect free and esbuild drops them.
  const { status, 'oauth-callback': callback, 'connect-confirm': confirm } = results.coldStart.functions;
  expect(status?.floorClients).toEqual(['DynamoDBClient', 'DynamoDBDocumentClient']);
  // The callback stores tokens and the pending install; the confirm queues the first sync and
  // tells Defrr the connection is made.
  expect(callback?.floorClients).toEqual([
    'DynamoDBClient',
    'DynamoDBDocumentClient',
    'SecretsManagerClient',
  ]);
  expect(confirm?.floorClients).toEqual([
    'DynamoDBClient',
    'DynamoDBDocumentClient',
    'EventBridgeClient',
    'SQSClient',
    'SecretsManagerClient',
  ]);
  // A client in the floor is a client's bytes in it: each added client makes it bigger.
  expect(callback?.floorBytes).toBeGreaterThan((status?.floorBytes ?? 0) + 5_000);
  expect(confirm?.floorBytes).toBeGreaterThan((callback?.floorBytes ?? 0) + 5_000);
  expect(results.coldStart.functions['webhook-intake']?.floorClients).toContain('Stripe');
  expect(Object.keys(results.coldStart.breakdown).sort()).toEqual([
    'createClientsMs',
    'floorMs',
    'librariesOnlyMs',
    'librariesOnlyRatio',
    'middyChainMs',
    'powertoolsLoggerMs',
    'zodConfigMs',
  ]);
  for (const ms of Object.values(results.coldStart.breakdown)) expect(Number.isFinite(ms)).toBe(true);
  // What source maps add is measured on an HTTP function's bundle (those run without them).
  expect(results.coldStart.functions[results.coldStart.sourceMaps.function]?.http).toBe(true);
  expect(Number.isFinite(results.coldStart.sourceMaps.addedMs)).toBe(true);
  // Every delivery the intake answered (all 2xx, as non2xx is 0) was queued.
  expect(results.webhook.requests).toBeGreaterThan(0);
  expect(results.webhook.queued).toBeGreaterThanOrEqual(results.webhook.requests);
  expect(results.coldStart.functions['webhook-intake']?.includesStripe).toBe(true);
  expect(results.coldStart.functions.status?.includesStripe).toBe(false);
  expect(results.coldStart.functions['webhook-processor']?.includesStripe).toBe(false);
  expect(table(results)).toContain('backfill.ratio');
});
