import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { makeHandler as intake } from '../../functions/webhook-intake/handler.js';
import { lambdaContext } from '../../local/lambda-context.js';
import { LOCAL_TABLES, type LocalStack } from '../../local/stack.js';
import { APP_MANIFEST } from '../../local/stripe-sandbox/app-manifest.js';
import { documentClient } from '../../shared/adapters/dynamodb/document-client.js';
import { keys } from '../../shared/data/keys.js';
import type { Connection } from '../../shared/domain/connection.js';
import type { HttpEvent } from '../../shared/http/handler.js';
import type { EventLedger } from '../../shared/ports/event-ledger.js';
import type { RecordsStore } from '../../shared/ports/records-store.js';
import { processWebhookMessage } from '../../shared/webhooks/process.js';
import { onlyConnection, onlyRef } from '../support/connections.js';
import {
  api,
  BAKERY_ACCOUNT,
  confirmInstall,
  connectOrg,
  DEMO_ACCOUNT,
  decide,
  followCallback,
  settle,
  startConnect,
  startTestStack,
  type TestClock,
  tokenFor,
} from '../support/local-stack.js';
import { capturedOutput } from '../support/log-capture.js';
import { sandboxObjects, waitForSync } from '../support/sync.js';
import { deliver, deliverSigned, sign, stripeEvent } from '../support/webhooks.js';
import { wrapRecords } from '../support/wrap-records.js';

jest.setTimeout(120_000);

let stack: LocalStack & { clock: TestClock };
/** Event ids whose first processing attempt fails (set per test). */
const failOnce = new Set<string>();
const failAlways = new Set<string>();
const writesPerObject = new Map<string, number>();
const completions = new Map<string, number>();

beforeAll(async () => {
  stack = await startTestStack(
    {},
    {
      wrap: {
        records: (records: RecordsStore): RecordsStore =>
          wrapRecords(records, {
            put: async (record) => {
              const id = record.object.id;
              if (failAlways.has(id)) throw new Error('simulated processing failure');
              if (failOnce.delete(id)) throw new Error('simulated processing failure');
              const result = await records.put(record);
              if (result.outcome === 'written') writesPerObject.set(id, (writesPerObject.get(id) ?? 0) + 1);
              return result;
            },
          }),
        ledger: (ledger: EventLedger): EventLedger => ({
          begin: (id) => ledger.begin(id),
          release: (id) => ledger.release(id),
          complete: async (id) => {
            completions.set(id, (completions.get(id) ?? 0) + 1);
            return ledger.complete(id);
          },
        }),
      },
    },
  );
});
afterAll(() => stack.close());

const secret = () => stack.sandbox.sandbox.webhookSecrets[0] as string;

/**
 * Connected, its first sync done: while a sync holds the lease, webhooks leave their changes
 * to it (one writer per connection), and these tests watch the webhook path write.
 */
const BULK_ACCOUNT = 'acct_1SbxBulkWebhooks003';
async function connectedAndSynced(org: string) {
  await connectOrg(stack, org, { account: BAKERY_ACCOUNT });
  await settle(stack, ['sync']);
}
const charge = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  object: 'charge',
  created: 1_790_000_000,
  amount: 1000,
  currency: 'usd',
  status: 'succeeded',
  ...extra,
});
let n = 0;
const newOrg = () => `org_hook_${++n}`;

describe('intake: POST /v1/webhooks/stripe', () => {
  const event = () => stripeEvent('charge.succeeded', charge(`ch_intake${++n}`), { account: DEMO_ACCOUNT });

  it('accepts a valid signature: 200 and one message queued', async () => {
    const before = stack.queues.webhooks.sent;
    const response = await deliverSigned(stack, event());
    expect(response).toEqual({ status: 200, body: '{"received":true}' });
    expect(stack.queues.webhooks.sent).toBe(before + 1);
  });

  it('accepts either secret while one is rolled', async () => {
    const old = secret();
    const fresh = stack.sandbox.sandbox.rollWebhookSecret();
    try {
      expect((await deliverSigned(stack, event(), fresh)).status).toBe(200);
      expect((await deliverSigned(stack, event(), old)).status).toBe(200);
    } finally {
      stack.sandbox.sandbox.webhookSecrets = [old];
    }
  });

  it('verifies a text body with non-ASCII characters over its UTF-8 bytes', async () => {
    const base = event();
    const payload = JSON.stringify({
      ...base,
      data: { object: { ...base.data.object, description: 'Café ☕ — 日本' } },
    });
    const before = stack.queues.webhooks.sent;
    const response = await deliver(stack, payload, { 'stripe-signature': sign(payload, secret()) });
    expect(response.status).toBe(200);
    expect(stack.queues.webhooks.sent).toBe(before + 1);
  });

  it('accepts a base64-encoded body (API Gateway encodes binary content types)', async () => {
    const payload = JSON.stringify(event());
    const before = stack.queues.webhooks.sent;
    const response = await deliver(stack, Buffer.from(payload), {
      'content-type': 'application/octet-stream',
      'stripe-signature': sign(payload, secret()),
    });
    expect(response.status).toBe(200);
    expect(stack.queues.webhooks.sent).toBe(before + 1);
  });

  it.each([
    [
      'a wrong secret',
      400,
      (p: string) => ({ body: p, header: sign(p, 'whsec_notTheRightSecret000000000') }),
    ],
    [
      'a tampered body',
      400,
      (p: string) => ({ body: p.replace('"amount":1000', '"amount":9999'), header: sign(p, secret()) }),
    ],
    [
      'a timestamp 301 s old',
      400,
      (p: string) => ({ body: p, header: sign(p, secret(), Math.floor(Date.now() / 1000) - 301) }),
    ],
    [
      // Past the 300 s tolerance by more than a loaded machine takes to deliver it: ahead, a
      // timestamp comes closer to the tolerance while the request is on its way.
      'a timestamp 320 s ahead',
      400,
      (p: string) => ({ body: p, header: sign(p, secret(), Math.floor(Date.now() / 1000) + 320) }),
    ],
    [
      'a timestamp a year ahead',
      400,
      (p: string) => ({ body: p, header: sign(p, secret(), Math.floor(Date.now() / 1000) + 365 * 86_400) }),
    ],
    [
      'two timestamps',
      400,
      (p: string) => {
        const t = Math.floor(Date.now() / 1000);
        return { body: p, header: `t=${t + 86_400},${sign(p, secret(), t)}` };
      },
    ],
    ['no signature header', 400, (p: string) => ({ body: p, header: undefined })],
    ['a malformed header', 400, (p: string) => ({ body: p, header: 'v1=deadbeef,t=abc' })],
    [
      'a signed body that is not JSON',
      400,
      () => ({ body: 'not json at all', header: sign('not json at all', secret()) }),
    ],
    [
      'a signed body that is not an event',
      400,
      () => ({ body: '{"hello":1}', header: sign('{"hello":1}', secret()) }),
    ],
    [
      'a signed event whose data.object is not an object',
      400,
      () => {
        const body = JSON.stringify({ ...event(), data: { object: ['ch_1'] } });
        return { body, header: sign(body, secret()) };
      },
    ],
    [
      'a 2 MB body',
      413,
      (p: string) => ({
        body: p + ' '.repeat(2 * 1024 * 1024),
        header: sign(p + ' '.repeat(2 * 1024 * 1024), secret()),
      }),
    ],
  ])('refuses %s with %i and queues nothing', async (_name, status, make) => {
    const { body, header } = make(JSON.stringify(event()));
    const before = stack.queues.webhooks.sent;
    const response = await deliver(stack, body, header ? { 'stripe-signature': header } : {});
    expect(response.status).toBe(status);
    expect(JSON.parse(response.body)).toEqual({
      error: { code: expect.any(String), message: expect.any(String) },
    });
    expect(response.body).not.toMatch(/whsec_|sk_test/);
    expect(stack.queues.webhooks.sent).toBe(before);
  });

  it('counts signature failures as a metric', () => {
    expect(capturedOutput()).toContain('WebhookSignatureFailures');
  });

  /** The intake alone, with its queue and stored signing secrets given, on one signed delivery. */
  async function deliverToIntake(send: () => Promise<void>, secrets: string[]) {
    const payload = JSON.stringify(event());
    const handler = intake({
      queue: { send, sendBatch: async () => ({ calls: 0 }) },
      credentials: { secretKey: async () => 'sk_test_x', webhookSecrets: async () => secrets },
    });
    return handler(
      {
        body: payload,
        isBase64Encoded: false,
        headers: { 'stripe-signature': sign(payload, secret()) },
        requestContext: {},
      } as unknown as HttpEvent,
      lambdaContext('webhook-intake'),
    );
  }

  it('answers 500 — never 2xx — when the event cannot be queued', async () => {
    const result = await deliverToIntake(() => Promise.reject(new Error('SQS is down')), [secret()]);
    expect(result.statusCode).toBe(500);
  });

  it('answers 503 (Stripe retries) and queues nothing while no signing secret is stored', async () => {
    let sent = 0;
    const result = await deliverToIntake(async () => {
      sent++;
    }, []);
    expect(result.statusCode).toBe(503);
    expect(JSON.parse(String(result.body))).toMatchObject({ error: { code: 'not_configured' } });
    expect(sent).toBe(0);
  });
});

describe('processing', () => {
  it('processes an event delivered five times once', async () => {
    const org = newOrg();
    await connectedAndSynced(org);
    const event = stripeEvent('charge.succeeded', charge('ch_fivetimes'), { account: BAKERY_ACCOUNT });
    const deps = stack.processorDeps;
    const outcomes = await Promise.allSettled(
      Array.from({ length: 5 }, () => processWebhookMessage(deps, { kind: 'event', event })),
    );
    const values = outcomes.map((o) => (o.status === 'fulfilled' ? o.value : 'busy'));
    expect(values.filter((v) => v === 'processed')).toHaveLength(1);
    for (let i = 0; i < 3; i++)
      await processWebhookMessage(deps, { kind: 'event', event }).catch(() => 'busy');
    expect(await processWebhookMessage(deps, { kind: 'event', event })).toBe('duplicate');
    expect(writesPerObject.get('ch_fivetimes')).toBe(1);
    expect(
      (
        await stack.records.get(
          { orgId: org, mode: 'test', accountId: BAKERY_ACCOUNT },
          'charges',
          'ch_fivetimes',
        )
      )?.source,
    ).toBe('webhook');
  });

  it('an invoice whose lines run past the embedded page queues a sync, which stores them all', async () => {
    const org = newOrg();
    await connectedAndSynced(org);
    await waitForSync(stack, org);
    // A stored invoice with more lines than Stripe embeds: its event brings the first page only.
    const long = [...sandboxObjects(stack, BAKERY_ACCOUNT, 'invoices').values()].find(
      (i) => (i.lines as { has_more: boolean }).has_more,
    );
    if (!long) throw new Error('the sandbox has no invoice with paged lines');
    const all =
      stack.sandbox.sandbox.accountData(BAKERY_ACCOUNT, 'test')?.invoiceLinesOf(long.id as string) ?? [];
    const embedded = (long.lines as { data: unknown[] }).data.length;
    stack.queues.sync.pause();
    try {
      const depth = stack.queues.sync.depth;
      // The invoice changes a little later; Stripe records the event (the sync reads it from
      // /v1/events) and sends it signed.
      const changed = { ...long, description: 'Changed after the sync' };
      stack.sandbox.sandbox
        .accountData(BAKERY_ACCOUNT, 'test')
        ?.collections.invoices.update(changed as never);
      stack.sandbox.sandbox.advanceClock(5);
      stack.sandbox.sandbox.emit(BAKERY_ACCOUNT, 'test', 'invoice.updated', changed as never);
      stack.sandbox.sandbox.advanceClock(-5);
      await settle(stack);
      // One sync for each org connected to the account (earlier tests' orgs too).
      const queued = stack.queues.sync.depth;
      expect(queued).toBeGreaterThan(depth);
      const plain = stripeEvent('charge.succeeded', charge('ch_no_lines'), { account: BAKERY_ACCOUNT });
      await processWebhookMessage(stack.processorDeps, { kind: 'event', event: plain });
      expect(stack.queues.sync.depth).toBe(queued);
    } finally {
      stack.queues.sync.resume();
    }
    await waitForSync(stack, org);
    await stack.queues.sync.idle();
    const stored = await stack.records.lines(
      { orgId: org, mode: 'test', accountId: BAKERY_ACCOUNT },
      'invoices',
      long.id as string,
    );
    expect(stored).toHaveLength(all.length - embedded);
  });

  it('keeps the newer snapshot when events arrive out of order; an equal one is a no-op', async () => {
    const org = newOrg();
    await connectedAndSynced(org);
    const older = stripeEvent('charge.succeeded', charge('ch_order', { amount_refunded: 0 }), {
      account: BAKERY_ACCOUNT,
      created: 1_800_000_000,
    });
    const newer = stripeEvent(
      'charge.refunded',
      charge('ch_order', { amount_refunded: 500, refunded: false }),
      { account: BAKERY_ACCOUNT, created: 1_800_000_060 },
    );
    const sameSecond = stripeEvent('charge.updated', charge('ch_order', { amount_refunded: 7 }), {
      account: BAKERY_ACCOUNT,
      created: 1_800_000_060,
    });
    for (const e of [newer, older, sameSecond]) expect((await deliverSigned(stack, e)).status).toBe(200);
    await settle(stack);
    const stored = await stack.records.get(
      { orgId: org, mode: 'test', accountId: BAKERY_ACCOUNT },
      'charges',
      'ch_order',
    );
    expect(stored?.object.amount_refunded).toBe(500);
  });

  it('revokes every org connected to the account on account.application.deauthorized, at once', async () => {
    const orgA = newOrg();
    const orgB = newOrg();
    await connectOrg(stack, orgA, { account: DEMO_ACCOUNT });
    await connectOrg(stack, orgB, { account: DEMO_ACCOUNT });
    const secretA = (await onlyConnection(stack.store, orgA))?.secretName as string;
    const grantedB = Date.parse((await onlyConnection(stack.store, orgB))?.authorizedAt as string);
    // The user uninstalled two minutes after the later install: clearly after both.
    const event = stripeEvent(
      'account.application.deauthorized',
      { id: stack.sandbox.sandbox.clientId, object: 'application', name: APP_MANIFEST.name },
      { account: DEMO_ACCOUNT, created: Math.floor(grantedB / 1000) + 120 },
    );
    expect((await deliverSigned(stack, event)).status).toBe(200);
    await settle(stack);
    for (const org of [orgA, orgB]) {
      const view = await api(stack, 'GET', '/v1/integrations/stripe/status', {
        token: await tokenFor(stack, org, 'member'),
      });
      expect(view.json.status).toBe('revoked');
    }
    expect(await stack.vault.read(secretA)).toBeUndefined();
    expect((await stack.store.accountLinks(DEMO_ACCOUNT)).map((l) => l.orgId)).not.toEqual(
      expect.arrayContaining([orgA]),
    );
    // Idempotent: processing it again changes nothing.
    expect(
      await processWebhookMessage(stack.processorDeps, {
        kind: 'event',
        event: { ...event, id: `${event.id}x` } as never,
      }),
    ).toBe('dropped');
  });

  it('keeps a connection made after the uninstall that a late account.application.deauthorized reports (Stripe retries for days, in no order)', async () => {
    const org = newOrg();
    await connectOrg(stack, org, { account: DEMO_ACCOUNT });
    await settle(stack, ['webhooks', 'sync']); // its first sync done: no run holds the lease, so a sync asked for is queued
    const connection = await onlyConnection(stack.store, org);
    const connectedAt = Math.floor(Date.parse(connection?.connectedAt as string) / 1000);
    const uninstall = (created: number) =>
      stripeEvent(
        'account.application.deauthorized',
        { id: stack.sandbox.sandbox.clientId, object: 'application', name: APP_MANIFEST.name },
        { account: DEMO_ACCOUNT, created },
      );
    const revoked = () =>
      stack.bus.events.filter(
        (e) => e['detail-type'] === 'Stripe Connection Revoked' && e.detail.orgId === org,
      ).length;
    const status = async () =>
      (
        await api(stack, 'GET', '/v1/integrations/stripe/status', {
          token: await tokenFor(stack, org, 'member'),
        })
      ).json.status;
    const syncsBefore = stack.queues.sync.sent;

    // The user uninstalled five minutes before this install; that event's delivery failed until now.
    expect((await deliverSigned(stack, uninstall(connectedAt - 5 * 60))).status).toBe(200);
    await settle(stack);
    expect(await status()).toBe('connected');
    expect(await stack.vault.read(connection?.secretName as string)).toBeDefined();
    expect(revoked()).toBe(0);
    // A sync is asked for: were the clocks further apart than allowed, it would find the token dead.
    expect(stack.queues.sync.sent).toBeGreaterThan(syncsBefore);
    await settle(stack, ['webhooks', 'sync']);

    // Within the clocks' allowance (a minute) of the install, the uninstall may be this install's or
    // the one before: it is noted, and the sync it asks for tells. The app is still installed here,
    // so Stripe takes the token: the connection stays and the completed run clears the note.
    const lastSuccess = (await onlyConnection(stack.store, org))?.sync.lastSuccessAt;
    const syncsBeforeDoubt = stack.queues.sync.sent;
    stack.queues.sync.pause();
    try {
      expect((await deliverSigned(stack, uninstall(connectedAt - 30))).status).toBe(200);
      await settle(stack);
      expect((await onlyConnection(stack.store, org))?.uninstallInDoubt).toBe(
        new Date((connectedAt - 30) * 1000).toISOString(),
      );
      expect(stack.queues.sync.sent).toBeGreaterThan(syncsBeforeDoubt);
    } finally {
      stack.queues.sync.resume();
    }
    await settle(stack, ['webhooks', 'sync']);
    const after = await onlyConnection(stack.store, org);
    expect(after?.status).toBe('connected');
    expect(after?.sync.lastSuccessAt).not.toBe(lastSuccess);
    expect(after?.uninstallInDoubt).toBeUndefined();
    expect(await stack.vault.read(connection?.secretName as string)).toBeDefined();
    expect(revoked()).toBe(0);
  });

  it('an uninstall within a minute of the install is revoked once Stripe refuses the token; a reinstall within that minute stays', async () => {
    const accountId = 'acct_1SbxQuickUninstall04';
    stack.sandbox.sandbox.addAccount({ id: accountId, name: 'Quick Uninstall', counts: { charges: 2 } });
    const org = newOrg();
    await connectOrg(stack, org, { account: accountId });
    await settle(stack, ['webhooks', 'sync']);
    const told = (type: string) =>
      stack.bus.events.filter((e) => e['detail-type'] === type && e.detail.orgId === org).length;
    const status = async () => (await onlyConnection(stack.store, org))?.status;

    // The user uninstalls seconds after installing: Stripe kills the tokens and sends the event,
    // which lands held in the queue; the user installs again before it is processed.
    stack.queues.webhooks.pause();
    try {
      stack.sandbox.sandbox.uninstall(accountId, 'test');
      await stack.sandbox.sandbox.webhooksIdle();
      expect(stack.queues.webhooks.depth).toBeGreaterThan(0);
      expect((await connectOrg(stack, org, { account: accountId })).outcome).toBe('connected');
    } finally {
      stack.queues.webhooks.resume();
    }
    const reinstalled = (await onlyConnection(stack.store, org)) as Connection;
    await settle(stack, ['webhooks', 'sync']);
    // The held uninstall was the install before: the new connection's token works.
    expect(await status()).toBe('connected');
    expect((await onlyConnection(stack.store, org))?.connectionId).toBe(reinstalled.connectionId);
    expect((await onlyConnection(stack.store, org))?.uninstallInDoubt).toBeUndefined();
    expect(await stack.vault.read(reinstalled.secretName as string)).toBeDefined();
    expect(told('Stripe Connection Revoked')).toBe(0);

    // Now the user uninstalls this install, within a minute of it: the sync the event asks for
    // finds the token dead, and the connection ends as revoked, told once, not as needs_reauth.
    stack.sandbox.sandbox.uninstall(accountId, 'test');
    await settle(stack, ['webhooks', 'sync']);
    const ended = await onlyConnection(stack.store, org);
    expect(ended?.status).toBe('revoked');
    expect(ended?.statusReason).toBe('deauthorized');
    expect(await stack.vault.read(reinstalled.secretName as string)).toBeUndefined();
    expect(told('Stripe Connection Revoked')).toBe(1);
    expect(told('Stripe Connection Needs Reauth')).toBe(0);
    const view = await api(stack, 'GET', '/v1/integrations/stripe/status', {
      token: await tokenFor(stack, org, 'member'),
    });
    expect(view.json.status).toBe('revoked');
  });

  it('revokes a connection on an uninstall made after Stripe granted the install, however long the user took to confirm it', async () => {
    const org = newOrg();
    const { authorizeUrl } = await startConnect(stack, org);
    const callback = await decide(stack, authorizeUrl, 'install', DEMO_ACCOUNT);
    // Stripe granted the install (the callback's code exchange) five minutes before the user confirmed it.
    stack.clock.advance(-5 * 60_000);
    let landed: URL;
    try {
      landed = await followCallback(callback);
    } finally {
      stack.clock.advance(5 * 60_000);
    }
    expect((await confirmInstall(stack, landed, await tokenFor(stack, org))).status).toBe(200);
    await settle(stack, ['webhooks', 'sync']);
    const connection = (await onlyConnection(stack.store, org)) as Connection;
    const authorizedAt = Date.parse(connection.authorizedAt as string);
    expect(Date.parse(connection.connectedAt) - authorizedAt).toBeGreaterThanOrEqual(5 * 60_000);
    // The user uninstalled two minutes after installing, before confirming: no later install is there
    // to keep, so the connection ends as revoked (not as a dead token the next sync finds).
    const uninstall = stripeEvent(
      'account.application.deauthorized',
      { id: stack.sandbox.sandbox.clientId, object: 'application', name: APP_MANIFEST.name },
      { account: DEMO_ACCOUNT, created: Math.floor(authorizedAt / 1000) + 120 },
    );
    expect((await deliverSigned(stack, uninstall)).status).toBe(200);
    await settle(stack);
    const view = await api(stack, 'GET', '/v1/integrations/stripe/status', {
      token: await tokenFor(stack, org, 'member'),
    });
    expect(view.json.status).toBe('revoked');
    expect(await stack.vault.read(connection.secretName as string)).toBeUndefined();
  });

  it("a dispute's webhook reads its charge again: Stripe sends no charge event when a dispute sets `disputed`", async () => {
    const org = newOrg();
    await connectedAndSynced(org);
    const { objects, events } = stack.sandbox.sandbox.createActivity(BAKERY_ACCOUNT, 'test', 'dispute');
    const disputes = sandboxObjects(stack, BAKERY_ACCOUNT, 'disputes');
    const disputeId = objects.find((id) => disputes.has(id)) as string;
    const chargeId = disputes.get(disputeId)?.charge as string;
    // The new charge's event (not yet disputed) and the dispute's: no charge.updated, as in Stripe.
    const stored = stack.sandbox.sandbox.accountData(BAKERY_ACCOUNT, 'test')?.events;
    const types = events.map((id) => (stored?.get(id) as { type?: string } | undefined)?.type);
    expect(types).toEqual(['charge.succeeded', 'charge.dispute.created']);
    await settle(stack, ['webhooks', 'sync']);
    const scope = { orgId: org, mode: 'test' as const, accountId: BAKERY_ACCOUNT };
    expect((await stack.records.get(scope, 'charges', chargeId))?.object.disputed).toBe(true);
    expect((await stack.records.get(scope, 'disputes', disputeId))?.object.charge).toBe(chargeId);
  });

  it('drops events for accounts with no connection and for the other mode; ignores types it does not keep', async () => {
    const org = newOrg();
    await connectedAndSynced(org);
    const deps = stack.processorDeps;
    const unknownAccount = stripeEvent('charge.succeeded', charge('ch_nobody'), {
      account: 'acct_1NobodyConnected',
    });
    const liveEvent = stripeEvent('charge.succeeded', charge('ch_livemode'), {
      account: BAKERY_ACCOUNT,
      livemode: true,
    });
    const noAccount = {
      ...stripeEvent('charge.succeeded', charge('ch_platform'), { account: BAKERY_ACCOUNT }),
      account: undefined,
    };
    const unknownType = stripeEvent(
      'payment_intent.created',
      { id: 'pi_1', object: 'payment_intent' },
      { account: BAKERY_ACCOUNT },
    );
    expect(await processWebhookMessage(deps, { kind: 'event', event: unknownAccount as never })).toBe(
      'dropped',
    );
    expect(await processWebhookMessage(deps, { kind: 'event', event: liveEvent as never })).toBe('dropped');
    expect(await processWebhookMessage(deps, { kind: 'event', event: noAccount as never })).toBe('dropped');
    expect(await processWebhookMessage(deps, { kind: 'event', event: unknownType as never })).toBe('ignored');
    expect(
      await stack.records.get(
        { orgId: org, mode: 'test', accountId: BAKERY_ACCOUNT },
        'charges',
        'ch_livemode',
      ),
    ).toBeUndefined();
  });

  it('notes account.application.authorized on the connection', async () => {
    const org = newOrg();
    await connectedAndSynced(org);
    const event = stripeEvent(
      'account.application.authorized',
      { id: 'ca_x', object: 'application' },
      { account: BAKERY_ACCOUNT },
    );
    expect(await processWebhookMessage(stack.processorDeps, { kind: 'event', event: event as never })).toBe(
      'processed',
    );
    const { Item } = await documentClient(stack.dynamoClient).send(
      new GetCommand({
        TableName: LOCAL_TABLES.service,
        Key: keys.connection(await onlyRef(stack.store, org)),
      }),
    );
    expect(Item?.lastAppEvent).toEqual({
      type: 'account.application.authorized',
      id: event.id,
      at: new Date(event.created * 1000).toISOString(),
    });
  });

  it('dead-letters a message that keeps failing, without holding back the others', async () => {
    const org = newOrg();
    await connectedAndSynced(org);
    failAlways.add('ch_poison');
    const dead = stack.queues.webhooks.deadLetters.length;
    await deliverSigned(
      stack,
      stripeEvent('charge.succeeded', charge('ch_poison'), { account: BAKERY_ACCOUNT }),
    );
    await deliverSigned(
      stack,
      stripeEvent('charge.succeeded', charge('ch_healthy'), { account: BAKERY_ACCOUNT }),
    );
    await settle(stack);
    failAlways.delete('ch_poison');
    expect(stack.queues.webhooks.deadLetters.length).toBe(dead + 1);
    expect(
      await stack.records.get(
        { orgId: org, mode: 'test', accountId: BAKERY_ACCOUNT },
        'charges',
        'ch_healthy',
      ),
    ).toBeDefined();
    expect(
      await stack.records.get(
        { orgId: org, mode: 'test', accountId: BAKERY_ACCOUNT },
        'charges',
        'ch_poison',
      ),
    ).toBeUndefined();
    // Redriven once the fault is gone, it is processed.
    stack.queues.webhooks.redrive();
    await settle(stack);
    expect(
      await stack.records.get(
        { orgId: org, mode: 'test', accountId: BAKERY_ACCOUNT },
        'charges',
        'ch_poison',
      ),
    ).toBeDefined();
  });
});

describe('end to end through the sandbox', () => {
  it('a charge created in the sandbox reaches the records store through its signed webhook', async () => {
    const org = newOrg();
    await connectedAndSynced(org);
    const { objects } = stack.sandbox.sandbox.createActivity(BAKERY_ACCOUNT, 'test', 'charge');
    await settle(stack);
    const stored = await stack.records.get(
      { orgId: org, mode: 'test', accountId: BAKERY_ACCOUNT },
      'charges',
      objects[0] as string,
    );
    expect(stored).toMatchObject({
      source: 'webhook',
      deleted: false,
      object: { id: objects[0], object: 'charge' },
    });
  });

  it("the sandbox's uninstall sends a real signed deauthorization: the connection is revoked", async () => {
    const org = newOrg();
    await connectOrg(stack, org, { account: BAKERY_ACCOUNT, body: { mode: 'live' } });
    expect(stack.sandbox.sandbox.uninstall(BAKERY_ACCOUNT, 'live')).toBe(true);
    // Within a minute of the install: the sync the event asks for finds the token dead.
    await settle(stack, ['webhooks', 'sync']);
    expect((await onlyConnection(stack.store, org))?.status).toBe('revoked');
    const delivery = stack.sandbox.sandbox.deliveries.at(-1);
    expect(delivery?.status).toBe(200);
  });

  it('2,000 signed events (10% duplicates, shuffled, 5% failing once): each distinct event processed exactly once', async () => {
    // An account of its own: the bakery has an org of every test above connected, each of which
    // would store every event, and this test is about the events, not the fan-out.
    const org = newOrg();
    const account = BULK_ACCOUNT;
    stack.sandbox.sandbox.addAccount({ id: account, name: 'Bulk', counts: { charges: 5 } });
    await connectOrg(stack, org, { account });
    await settle(stack, ['sync']);
    const distinct = Array.from({ length: 1800 }, (_, i) =>
      stripeEvent('charge.succeeded', charge(`ch_bulk${String(i).padStart(5, '0')}`), { account }),
    );
    const deliveries = [...distinct, ...distinct.filter((_, i) => i % 9 === 0).slice(0, 200)];
    expect(deliveries).toHaveLength(2000);
    // Deterministic shuffle.
    let seed = 42;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let i = deliveries.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [deliveries[i], deliveries[j]] = [
        deliveries[j] as (typeof deliveries)[number],
        deliveries[i] as (typeof deliveries)[number],
      ];
    }
    for (const e of distinct.filter((_, i) => i % 20 === 3)) failOnce.add(e.data.object.id as string);
    expect(failOnce.size).toBe(90);
    const statuses: number[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < deliveries.length)
          statuses.push((await deliverSigned(stack, deliveries[next++] as object)).status);
      }),
    );
    expect(statuses.every((s) => s === 200)).toBe(true);
    await settle(stack);
    expect(failOnce.size).toBe(0); // every injected failure happened, and was retried
    const stored = await stack.records.versions({ orgId: org, mode: 'test', accountId: account }, 'charges');
    const ids = distinct.map((e) => e.data.object.id as string);
    const missing = ids.filter((id) => !stored.has(id));
    expect(missing).toEqual([]);
    // Written once per connected org: every org linked to the account in test mode gets the object.
    const orgs = (await stack.store.accountLinks(account)).filter((l) => !l.livemode).length;
    expect(ids.filter((id) => writesPerObject.get(id) !== orgs)).toEqual([]);
    // Processed exactly once each: one completed claim per distinct event, duplicates never handled.
    expect(distinct.filter((e) => completions.get(e.id) !== 1).map((e) => e.id)).toEqual([]);
  }, 600_000);
});
