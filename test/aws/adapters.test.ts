import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  CreateEventBusCommand,
  EventBridgeClient,
  PutRuleCommand,
  PutTargetsCommand,
} from '@aws-sdk/client-eventbridge';
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { DynamoCheckpointStore } from '../../shared/adapters/dynamodb/checkpoint-store.js';
import { DynamoConnectionStore } from '../../shared/adapters/dynamodb/connection-store.js';
import { documentClient } from '../../shared/adapters/dynamodb/document-client.js';
import { DynamoEventLedger } from '../../shared/adapters/dynamodb/event-ledger.js';
import { DynamoRecordsStore } from '../../shared/adapters/dynamodb/records-store.js';
import { DynamoRequestShares } from '../../shared/adapters/dynamodb/request-shares.js';
import { EventBridgePublisher } from '../../shared/adapters/eventbridge/event-publisher.js';
import { SecretsManagerAppCredentials } from '../../shared/adapters/secrets-manager/app-credentials.js';
import { SecretsManagerTokenVault } from '../../shared/adapters/secrets-manager/token-vault.js';
import { SqsJobQueue } from '../../shared/adapters/sqs/job-queue.js';
import { ensureTables } from '../../shared/data/ensure-tables.js';
import { recordsTable, serviceTable } from '../../shared/data/tables.js';
import { checkpointPartsContract } from '../support/checkpoint-parts-contract.js';
import { connectionStoreContract } from '../support/connection-store-contract.js';
import { capturedRecords } from '../support/log-capture.js';
import { motoClientConfig } from '../support/moto.js';
import { eventLedgerContract, recordsStoreContract } from '../support/records-store-contract.js';
import { requestSharesContract } from '../support/request-shares-contract.js';
import { sampleTokens, tokenVaultContract } from '../support/token-vault-contract.js';

const secrets = new SecretsManagerClient(motoClientConfig());
const dynamo = new DynamoDBClient(motoClientConfig());
const sqs = new SQSClient(motoClientConfig());
const tableName = `svc-adapters-${Date.now()}`;
const recordsName = `rec-adapters-${Date.now()}`;
let kmsKeyId: string;

beforeAll(async () => {
  await ensureTables(dynamo, [
    { def: serviceTable, name: tableName },
    { def: recordsTable, name: recordsName },
  ]);
  const kms = new KMSClient(motoClientConfig());
  kmsKeyId = (await kms.send(new CreateKeyCommand({ Description: 'service key' }))).KeyMetadata
    ?.KeyId as string;
  kms.destroy();
});
afterAll(() => {
  secrets.destroy();
  dynamo.destroy();
  sqs.destroy();
});

/**
 * DynamoDB applies each request atomically: a conditional write's check and write are one
 * step. moto's server answers requests on several threads without locking the item, so two
 * racing conditional updates can both pass their condition there, which DynamoDB never
 * allows. The contracts' races are run through a client that sends one request at a time:
 * the stores' own calls still interleave (their awaits do), each request stays atomic, as
 * in DynamoDB. (dynalite, in the integration tier, runs the same contracts unserialised.)
 */
function oneRequestAtATime(client: DynamoDBClient): DynamoDBClient {
  let tail: Promise<void> = Promise.resolve();
  client.middlewareStack.add(
    (next) => async (args) => {
      const previous = tail;
      let release = () => {};
      tail = new Promise<void>((resolve) => {
        release = resolve;
      });
      await previous;
      try {
        return await next(args);
      } finally {
        release();
      }
    },
    { step: 'initialize', name: 'oneRequestAtATime' },
  );
  return client;
}
const atomic = oneRequestAtATime(new DynamoDBClient(motoClientConfig()));
afterAll(() => atomic.destroy());

tokenVaultContract('SecretsManagerTokenVault on moto', () => new SecretsManagerTokenVault(secrets, kmsKeyId));
connectionStoreContract(
  'DynamoConnectionStore on moto',
  () => new DynamoConnectionStore(documentClient(atomic), tableName),
);
recordsStoreContract(
  'DynamoRecordsStore on moto',
  () => new DynamoRecordsStore(documentClient(atomic), recordsName),
);
eventLedgerContract(
  'DynamoEventLedger on moto',
  (now) => new DynamoEventLedger(documentClient(atomic), tableName, 5 * 60_000, now),
);
checkpointPartsContract(
  'DynamoCheckpointStore parts on moto',
  () => new DynamoCheckpointStore(documentClient(atomic), tableName),
);
requestSharesContract(
  'DynamoRequestShares on moto',
  () => new DynamoRequestShares(documentClient(atomic), tableName),
);

describe('SecretsManagerTokenVault specifics', () => {
  it('creates the secret with the service key and the org/account tags', async () => {
    const vault = new SecretsManagerTokenVault(secrets, kmsKeyId);
    const name = `defrr/stripe/test/connections/org_t/conn_${Date.now()}`;
    await vault.create(name, sampleTokens(), { org: 'org_t', account: 'acct_1ContractTest0001' });
    const described = await secrets.send(new DescribeSecretCommand({ SecretId: name }));
    expect(described.KmsKeyId).toContain(kmsKeyId);
    expect(described.Tags).toEqual(
      expect.arrayContaining([
        { Key: 'org', Value: 'org_t' },
        { Key: 'account', Value: 'acct_1ContractTest0001' },
      ]),
    );
  });
});

describe('SecretsManagerAppCredentials', () => {
  it('reads the documented JSON shapes once and caches them', async () => {
    const keys = `defrr/stripe/test/app-credentials-${Date.now()}`;
    const hooks = `defrr/stripe/test/webhook-secrets-${Date.now()}`;
    await secrets.send(
      new CreateSecretCommand({
        Name: keys,
        SecretString: JSON.stringify({ secretKeys: { test: 'sk_test_fromSecretsManager123' } }),
      }),
    );
    await secrets.send(
      new CreateSecretCommand({
        Name: hooks,
        SecretString: JSON.stringify({ webhookSecrets: ['whsec_one', 'whsec_two'] }),
      }),
    );
    let calls = 0;
    const counting = new SecretsManagerClient(motoClientConfig());
    counting.middlewareStack.add((next) => async (args) => {
      calls++;
      return next(args);
    });
    const credentials = new SecretsManagerAppCredentials(counting, {
      keysSecretId: keys,
      webhookSecretsSecretId: hooks,
    });
    await expect(credentials.secretKey('test')).resolves.toBe('sk_test_fromSecretsManager123');
    await expect(credentials.secretKey('test')).resolves.toBe('sk_test_fromSecretsManager123');
    await expect(credentials.webhookSecrets()).resolves.toEqual(['whsec_one', 'whsec_two']);
    await expect(credentials.secretKey('live')).rejects.toThrow('no live-mode secret key');
    expect(calls).toBe(2);
    counting.destroy();
  });

  it('gives a function only the secret it was configured with (the intake cannot read the app keys)', async () => {
    const intakeOnly = new SecretsManagerAppCredentials(secrets, { webhookSecretsSecretId: 'any' });
    await expect(intakeOnly.secretKey('live')).rejects.toThrow('no access to the app secret keys');
  });

  it('fails clearly on a malformed secret without quoting it', async () => {
    const name = `defrr/stripe/test/bad-credentials-${Date.now()}`;
    await secrets.send(
      new CreateSecretCommand({ Name: name, SecretString: '{"secretKeys":"sk_test_leakyleakyleaky"}' }),
    );
    const error = await new SecretsManagerAppCredentials(secrets, { keysSecretId: name })
      .secretKey('test')
      .catch((e: Error) => e);
    expect((error as Error).message).toContain('documented shape');
    expect((error as Error).message).not.toContain('leaky');
  });
});

describe('a secret an operator has not filled yet', () => {
  it.each([
    ['webhook-secrets', { webhookSecrets: [] }, 'webhookSecrets'],
    ['app-credentials', { secretKeys: {} }, 'secretKeys'],
  ])(
    'the %s secret as the stack creates it: one log line naming it, and the SecretNotConfigured metric',
    async (kind, empty, field) => {
      const name = `defrr/stripe/test/${kind}-empty-${Date.now()}`;
      await secrets.send(
        new CreateSecretCommand({ Name: name, SecretString: JSON.stringify({ ...empty, unused: 'x' }) }),
      );
      const before = capturedRecords().length;
      const credentials = new SecretsManagerAppCredentials(
        secrets,
        kind === 'webhook-secrets' ? { webhookSecretsSecretId: name } : { keysSecretId: name },
      );
      if (kind === 'webhook-secrets') {
        await expect(credentials.webhookSecrets()).resolves.toEqual([]);
        await expect(credentials.webhookSecrets()).resolves.toEqual([]);
      } else {
        await expect(credentials.secretKey('test')).rejects.toThrow('no test-mode secret key');
        await expect(credentials.secretKey('live')).rejects.toThrow('no live-mode secret key');
      }
      const records = capturedRecords().slice(before);
      // One read (cached), so one line: it names the secret and what to put in it.
      const lines = records.filter((r) => String(r.message).startsWith('secret not configured'));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatchObject({ level: 'ERROR', secretId: name });
      expect(String(lines[0]?.message)).toContain(field);
      const emf = records.filter((r) => JSON.stringify(r).includes('SecretNotConfigured'));
      expect(emf).toHaveLength(1);
      expect(emf[0]).toMatchObject({ SecretNotConfigured: 1, service: 'stripe-connector' });
    },
  );

  it('a filled one says nothing', async () => {
    const name = `defrr/stripe/test/webhook-secrets-filled-${Date.now()}`;
    await secrets.send(
      new CreateSecretCommand({ Name: name, SecretString: '{"webhookSecrets":["whsec_filled"]}' }),
    );
    const before = capturedRecords().length;
    await new SecretsManagerAppCredentials(secrets, { webhookSecretsSecretId: name }).webhookSecrets();
    expect(JSON.stringify(capturedRecords().slice(before))).not.toContain('SecretNotConfigured');
  });
});

describe('SqsJobQueue on moto', () => {
  it('sends single messages and batches of ten, and they arrive intact', async () => {
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: `sync-${Date.now()}` }));
    const queue = new SqsJobQueue<{ n: number }>(sqs, QueueUrl as string);
    await queue.send({ n: 0 });
    const { calls } = await queue.sendBatch(Array.from({ length: 23 }, (_, i) => ({ n: i + 1 })));
    expect(calls).toBe(3);
    const received: number[] = [];
    for (let i = 0; i < 10 && received.length < 24; i++) {
      const { Messages } = await sqs.send(
        new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
      );
      for (const m of Messages ?? []) received.push((JSON.parse(m.Body as string) as { n: number }).n);
    }
    expect(received.sort((a, b) => a - b)).toEqual(Array.from({ length: 24 }, (_, i) => i));
  });
});

describe('EventBridgePublisher on moto', () => {
  it('publishes Stripe Sync Completed and the event reaches a rule’s SQS target', async () => {
    const events = new EventBridgeClient(motoClientConfig());
    const bus = `defrr-test-${Date.now()}`;
    await events.send(new CreateEventBusCommand({ Name: bus }));
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: `completed-${Date.now()}` }));
    const { Attributes } = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }),
    );
    await events.send(
      new PutRuleCommand({
        Name: 'sync-completed',
        EventBusName: bus,
        EventPattern: JSON.stringify({
          source: ['defrr.stripe-connector'],
          'detail-type': ['Stripe Sync Completed'],
        }),
      }),
    );
    await events.send(
      new PutTargetsCommand({
        Rule: 'sync-completed',
        EventBusName: bus,
        Targets: [{ Id: 'queue', Arn: Attributes?.QueueArn }],
      }),
    );
    const publisher = new EventBridgePublisher(events, bus, 'defrr.stripe-connector');
    await publisher.publish('Stripe Sync Completed', { orgId: 'org_1', counts: { charges: 3 } });
    await publisher.publish('Something Else', { orgId: 'org_1' });
    const { Messages } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
    );
    const bodies = (Messages ?? []).map((m) => JSON.parse(m.Body as string));
    expect(bodies).toEqual([
      expect.objectContaining({
        source: 'defrr.stripe-connector',
        'detail-type': 'Stripe Sync Completed',
        detail: { orgId: 'org_1', counts: { charges: 3 } },
      }),
    ]);
    events.destroy();
  });

  it('throws when the bus refuses the event', async () => {
    const events = new EventBridgeClient(motoClientConfig());
    await expect(new EventBridgePublisher(events, 'no-such-bus', 'x').publish('T', {})).rejects.toThrow();
    events.destroy();
  });
});
