import type { LocalStack } from '../../local/stack.js';
import { onlyConnection } from '../support/connections.js';
import {
  assertSecretsConsistent,
  BAKERY_ACCOUNT,
  confirmInstall,
  decide,
  followCallback,
  startConnect,
  startTestStack,
  tokenFor,
} from '../support/local-stack.js';

jest.setTimeout(300_000);

let stack: LocalStack;
beforeAll(async () => {
  stack = await startTestStack();
  stack.queues.sync.pause();
});
afterAll(() => stack.close());

/** The connection of `orgId` is connected, has its account link, and no secret is orphaned. */
async function expectWhole(orgId: string) {
  const connection = await onlyConnection(stack.store, orgId);
  expect(connection?.status).toBe('connected');
  const links = await stack.store.accountLinks(BAKERY_ACCOUNT);
  expect(links.filter((l) => l.orgId === orgId && l.connectionId === connection?.connectionId)).toHaveLength(
    1,
  );
  await assertSecretsConsistent(stack, [orgId]);
}

let n = 0;
describe('concurrent callbacks and confirmations for one org and account', () => {
  it.each([2, 3, 4, 6, 8])(
    '%i at once, over 6 trials: the connection that wins has its link, and nothing is orphaned',
    async (k) => {
      for (let trial = 0; trial < 6; trial++) {
        const orgId = `org_race_${++n}`;
        const callbacks: URL[] = [];
        for (let i = 0; i < k; i++) {
          const { authorizeUrl } = await startConnect(stack, orgId);
          callbacks.push(await decide(stack, authorizeUrl, 'install', BAKERY_ACCOUNT));
        }
        // The callbacks, and then their confirmations by the one user, all at once.
        const landed = await Promise.all(callbacks.map((url) => followCallback(url)));
        expect(landed.map((url) => url.searchParams.get('stripe'))).toEqual(Array(k).fill('confirm'));
        const token = await tokenFor(stack, orgId);
        const confirmed = await Promise.all(landed.map((url) => confirmInstall(stack, url, token)));
        expect(confirmed.map((r) => r.status)).toEqual(Array(k).fill(200));
        await expectWhole(orgId);
      }
    },
  );
});
