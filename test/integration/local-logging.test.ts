import type { LocalStack } from '../../local/stack.js';
import { onlyConnection } from '../support/connections.js';
import { api, BAKERY_ACCOUNT, connectOrg, startTestStack, tokenFor } from '../support/local-stack.js';
import { capturedRecords } from '../support/log-capture.js';
import { slowStripe, waitForSync } from '../support/sync.js';

jest.setTimeout(120_000);

let stack: LocalStack;
beforeAll(async () => {
  stack = await startTestStack({ LOG_LEVEL: 'INFO' });
});
afterAll(() => stack.close());

/**
 * The local stack runs every function in one process, many invocations at
 * once; Lambda gives each invocation its own context. A handler's log lines
 * carry its own function name and the keys it appended, never another's.
 */
it("keeps each invocation's log context its own while a sync and callbacks run at once", async () => {
  const orgId = 'org_logging_1';
  stack.queues.sync.pause();
  await connectOrg(stack, orgId, { account: BAKERY_ACCOUNT });
  slowStripe(stack, BAKERY_ACCOUNT, ['GET /v1/balance_transactions', 'GET /v1/charges'], 150);
  stack.queues.sync.resume();
  // While the sync runs (its logger has orgId, syncRun and accountId appended), callbacks come in.
  for (let i = 0; i < 40 && (await onlyConnection(stack.store, orgId))?.sync.state !== 'running'; i++)
    await new Promise((r) => setTimeout(r, 50));
  await Promise.all(
    Array.from({ length: 6 }, (_, i) =>
      api(stack, 'GET', `/v1/integrations/stripe/callback?state=bogus${i}&code=x`),
    ),
  );
  await api(stack, 'GET', '/v1/integrations/stripe/status', {
    token: await tokenFor(stack, 'org_other_1', 'member'),
  });
  await waitForSync(stack, orgId);

  const records = capturedRecords();
  const callbacks = records.filter((r) => r.message === 'callback with an unknown, used or expired state');
  expect(callbacks).toHaveLength(6);
  for (const record of callbacks) {
    expect(record.function_name).toBe('oauth-callback');
    expect(record).not.toHaveProperty('syncRun');
    expect(record).not.toHaveProperty('orgId');
    expect(record).not.toHaveProperty('accountId');
  }
  const requestIds = new Set(callbacks.map((r) => r.function_request_id));
  expect(requestIds.size).toBe(6);
  const synced = records.filter((r) => r.message === 'sync completed');
  expect(synced).toHaveLength(1);
  expect(synced[0]).toMatchObject({ function_name: 'sync', orgId, accountId: BAKERY_ACCOUNT });
});
