import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type AttributeValue,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  type QueryCommandOutput,
} from '@aws-sdk/client-dynamodb';
import { LOCAL_TABLES } from '../../local/stack.js';
import { recordKeys } from '../../shared/data/keys.js';
import {
  NODE_TSX,
  type SpawnedProcess,
  spawnCommand,
  spawnLocalStack,
  startLocalProcess,
  stopProcess,
  whenStarted,
} from '../support/local-process.js';
import { registerSecret } from '../support/log-capture.js';

jest.setTimeout(120_000);

const dynamo = (endpoint: string) =>
  new DynamoDBClient({
    endpoint,
    region: 'local',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });

/** True once nothing accepts connections on the port (refused). */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

async function allFreeWithin(ports: number[], ms: number): Promise<number[]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const busy: number[] = [];
    for (const port of ports) if (!(await portFree(port))) busy.push(port);
    if (busy.length === 0 || Date.now() > deadline) return busy;
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function printed(proc: SpawnedProcess, pattern: RegExp, timeoutMs = 90_000): Promise<RegExpMatchArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const match = proc.output().match(pattern);
    if (match) return match;
    if (proc.child.exitCode !== null || Date.now() > deadline)
      throw new Error(`no ${pattern} in output:\n${proc.output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('the npm scripts stop whole on SIGTERM to the PID that was started', () => {
  it('npm start: every port is free within a few seconds of SIGTERM to npm', async () => {
    const proc = await whenStarted(
      spawnCommand(['npm', 'start'], { DATA_DIR: mkdtempSync(join(tmpdir(), 'sigterm-')) }),
    );
    const ports = [proc.url, proc.sandboxUrl, proc.dynamoEndpoint].map((url) => Number(new URL(url).port));
    expect(await allFreeWithin(ports, 0)).toEqual(ports); // all three are listening
    proc.child.kill('SIGTERM');
    expect(await allFreeWithin(ports, 8000)).toEqual([]);
    await proc.exit;
    expect(proc.output()).toContain('Stopped.');
  });

  it('npm run sandbox: its port is free within a few seconds of SIGTERM to npm', async () => {
    const proc = spawnCommand(['npm', 'run', 'sandbox', '--', '--memory'], {});
    const [, url] = await printed(proc, /Stripe sandbox listening on (http:\/\/\S+)/);
    const port = Number(new URL(url as string).port);
    expect(await portFree(port)).toBe(false);
    proc.child.kill('SIGTERM');
    expect(await allFreeWithin([port], 8000)).toEqual([]);
    await proc.exit;
  });

  it('a stack whose parent dies without a signal (npm killed) stops by itself', async () => {
    const proc = await whenStarted(
      spawnCommand(['npm', 'start'], { DATA_DIR: mkdtempSync(join(tmpdir(), 'orphan-')) }),
    );
    const ports = [proc.url, proc.sandboxUrl, proc.dynamoEndpoint].map((url) => Number(new URL(url).port));
    proc.child.kill('SIGKILL');
    expect(await allFreeWithin(ports, 10_000)).toEqual([]);
  });
});

describe('npm start (the local stack as a process)', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'local-stack-'));

  it('serves health, refuses a second stack on its port, stops on SIGTERM and keeps its data', async () => {
    const first = await startLocalProcess({ DATA_DIR: dataDir });
    const health = await fetch(`${first.url}/v1/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });

    // A second stack on the same PORT fails fast with a clear message.
    const port = new URL(first.url).port;
    const second = spawnLocalStack({ DATA_DIR: mkdtempSync(join(tmpdir(), 'second-')), PORT: port });
    expect(await second.exit).not.toBe(0);
    expect(second.output()).toContain(`port ${port}: it is already in use`);

    // Write through the embedded DynamoDB and the sandbox, then restart.
    const client = dynamo(first.dynamoEndpoint);
    await client.send(
      new PutItemCommand({
        TableName: LOCAL_TABLES.service,
        Item: { pk: { S: 'ORG#org_keep' }, sk: { S: 'PROBE' }, v: { N: '7' } },
      }),
    );
    client.destroy();
    const info = (await (await fetch(`${first.sandboxUrl}/_sandbox/info`)).json()) as {
      app: { clientId: string };
    };
    expect(await stopProcess(first)).toBe(0);
    expect(first.output()).toContain('Stopped.');

    const restarted = await startLocalProcess({ DATA_DIR: dataDir });
    const again = dynamo(restarted.dynamoEndpoint);
    const { Item } = await again.send(
      new GetItemCommand({
        TableName: LOCAL_TABLES.service,
        Key: { pk: { S: 'ORG#org_keep' }, sk: { S: 'PROBE' } },
      }),
    );
    again.destroy();
    expect(Item?.v?.N).toBe('7');
    const infoAgain = (await (await fetch(`${restarted.sandboxUrl}/_sandbox/info`)).json()) as {
      app: { clientId: string };
    };
    expect(infoAgain.app.clientId).toBe(info.app.clientId);
    expect(await stopProcess(restarted)).toBe(0);
  });

  it('keeps nothing with --memory', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'memory-'));
    const proc = await startLocalProcess({ DATA_DIR: dir }, ['--memory']);
    const client = dynamo(proc.dynamoEndpoint);
    await client.send(
      new PutItemCommand({ TableName: LOCAL_TABLES.service, Item: { pk: { S: 'A' }, sk: { S: 'B' } } }),
    );
    client.destroy();
    expect(await stopProcess(proc)).toBe(0);
    const next = await startLocalProcess({ DATA_DIR: dir }, ['--memory']);
    const client2 = dynamo(next.dynamoEndpoint);
    const { Item } = await client2.send(
      new GetItemCommand({ TableName: LOCAL_TABLES.service, Key: { pk: { S: 'A' }, sk: { S: 'B' } } }),
    );
    client2.destroy();
    expect(Item).toBeUndefined();
    expect(await stopProcess(next)).toBe(0);
  });

  it('fails with the variable name when configuration is invalid', async () => {
    const proc = spawnLocalStack({ DATA_DIR: mkdtempSync(join(tmpdir(), 'bad-')), PORT: 'not-a-port' });
    expect(await proc.exit).toBe(1);
    expect(proc.output()).toContain('PORT: invalid');
  });

  it('npm run token prints a JWT the running stack accepts', async () => {
    const proc = await startLocalProcess({ DATA_DIR: dataDir });
    try {
      // What it prints for the token names the DATA_DIR whose key signs it.
      expect(proc.output()).toContain(`DATA_DIR=${JSON.stringify(dataDir)} npm run --silent token`);
      const [node, ...loader] = NODE_TSX;
      const token = execFileSync(node, [...loader, 'local/token.ts', '--org', 'org_1', '--role', 'admin'], {
        cwd: join(__dirname, '..', '..'),
        env: { ...process.env, DATA_DIR: dataDir },
      })
        .toString()
        .trim();
      const [, payload] = token.split('.');
      expect(JSON.parse(Buffer.from(payload as string, 'base64url').toString())).toMatchObject({
        org_id: 'org_1',
        roles: ['admin'],
      });
      const jwks = (await (
        await fetch(`${proc.url}/.well-known/jwks.json`)
      ).json()) as import('jose').JSONWebKeySet;
      const { createLocalJWKSet, jwtVerify } = await import('jose');
      await expect(jwtVerify(token, createLocalJWKSet(jwks))).resolves.toBeDefined();
    } finally {
      await stopProcess(proc);
    }
  });

  it('a sync killed mid-run (kill -9) resumes by itself after a restart, about a lease later, and completes exactly', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'resume-'));
    const env = { DATA_DIR: dir, SYNC_LEASE_SECONDS: '4', LOCAL_SWEEP_SECONDS: '1', LOG_LEVEL: 'WARN' };
    const account = 'acct_1SbxResumeTest001';
    const size = 3000;
    const first = await startLocalProcess(env);
    const post = (url: string, body: unknown, token?: string) =>
      fetch(url, {
        method: 'POST',
        redirect: 'manual',
        headers: {
          'content-type': 'application/json',
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body: JSON.stringify(body),
      });
    await post(`${first.sandboxUrl}/_sandbox/accounts`, {
      id: account,
      name: 'Resume',
      counts: {
        balance_transactions: size,
        charges: 0,
        refunds: 0,
        invoices: 0,
        credit_notes: 0,
        disputes: 0,
      },
    });
    await post(`${first.sandboxUrl}/_sandbox/faults`, {
      route: 'GET /v1/balance_transactions',
      kind: 'latency',
      latencyMs: 250,
      rate: 1,
    });
    const { devIssuer } = await import('../../local/dev-auth.js');
    const issuer = await devIssuer(join(dir, 'dev-jwt-key.json'), { org: 'org_id', roles: 'roles' });
    const token = await issuer.issue({ org: 'org_resume', roles: ['admin'], sub: 'user_resume' });
    // Connect as the page would: start, the sandbox's code, the callback, the confirmation.
    const started = (await (await post(`${first.url}/v1/integrations/stripe/connect`, {}, token)).json()) as {
      authorizeUrl: string;
    };
    const state = new URL(started.authorizeUrl).searchParams.get('state') as string;
    const { code } = (await (
      await post(`${first.sandboxUrl}/_sandbox/oauth/codes`, { account, mode: 'test' })
    ).json()) as {
      code: string;
    };
    registerSecret(code);
    const callback = await fetch(
      `${first.url}/v1/integrations/stripe/callback?${new URLSearchParams({ code, state })}`,
      { redirect: 'manual' },
    );
    const install = new URL(callback.headers.get('location') as string).searchParams.get('install');
    expect(
      (await post(`${first.url}/v1/integrations/stripe/connect/confirm`, { install }, token)).status,
    ).toBe(200);
    const status = async (url: string) =>
      (
        (await (
          await fetch(`${url}/v1/integrations/stripe/status`, {
            headers: { authorization: `Bearer ${token}` },
          })
        ).json()) as {
          sync: {
            state: string;
            progress: { records: number } | null;
            lastSuccessAt: string | null;
            counts: Record<string, number>;
          };
        }
      ).sync;
    for (let i = 0; i < 600; i++) {
      const sync = await status(first.url);
      if (sync.state === 'running' && (sync.progress?.records ?? 0) > 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    first.child.kill('SIGKILL');
    await first.exit;

    const second = await startLocalProcess(env);
    try {
      let sync = await status(second.url);
      expect(['running', 'interrupted', 'queued']).toContain(sync.state);
      for (let i = 0; i < 1200 && !sync.lastSuccessAt; i++) {
        await new Promise((r) => setTimeout(r, 100));
        sync = await status(second.url);
      }
      expect(sync.state).toBe('idle');
      expect(sync.lastSuccessAt).not.toBeNull();
      // Every object stored, once.
      const client = dynamo(second.dynamoEndpoint);
      let stored = 0;
      let start: Record<string, AttributeValue> | undefined;
      do {
        const page: QueryCommandOutput = await client.send(
          new QueryCommand({
            TableName: LOCAL_TABLES.records,
            KeyConditionExpression: 'pk = :pk AND begins_with(sk, :bt)',
            ExpressionAttributeValues: {
              ':pk': { S: recordKeys.partition({ orgId: 'org_resume', mode: 'test', accountId: account }) },
              ':bt': { S: 'balance_transactions#' },
            },
            Select: 'COUNT',
            ...(start ? { ExclusiveStartKey: start } : {}),
          }),
        );
        stored += page.Count ?? 0;
        start = page.LastEvaluatedKey;
      } while (start);
      client.destroy();
      expect(stored).toBe(size);
      expect(sync.counts.balance_transactions).toBe(size);
      // The oracle, as a person would run it against the stack: nothing missing, extra or different.
      const reconciled = spawnSync(
        'npm',
        ['run', '--silent', 'reconcile', '--', '--org', 'org_resume', '--url', second.url],
        { encoding: 'utf8', env: { ...process.env, DATA_DIR: dir } },
      );
      expect(reconciled.stderr).toBe('');
      expect(reconciled.stdout).toMatch(/^OK: org_resume/);
      expect(reconciled.stdout).toMatch(
        /balance_transactions\s+stripe\s+3000\s+stored\s+3000\s+missing 0\s+extra 0\s+different 0\s+status count 3000/,
      );
      expect(reconciled.status).toBe(0);
    } finally {
      await stopProcess(second);
    }
  }, 240_000);
});
