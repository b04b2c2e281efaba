import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import dynalite from 'dynalite';

export interface EmbeddedDynamo {
  endpoint: string;
  port: number;
  close(): Promise<void>;
}

/**
 * DynamoDB for the laptop: dynalite on loopback, persisted in LevelDB under
 * `path` (in memory when unset). Speaks the DynamoDB wire protocol, so the
 * service's DynamoDB adapters run against it unchanged.
 */
/** Tables are created, updated and deleted at once (DynamoDB takes seconds; nothing here waits for that). */
const INSTANT_TABLES = { createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 };

export async function startEmbeddedDynamo(
  options: { path?: string; port?: number; host?: string } = {},
): Promise<EmbeddedDynamo> {
  if (options.path) mkdirSync(options.path, { recursive: true });
  const server = dynalite({ ...(options.path ? { path: options.path } : {}), ...INSTANT_TABLES });
  const host = options.host ?? '127.0.0.1';
  server.listen(options.port ?? 0, host);
  await Promise.race([
    once(server, 'listening'),
    once(server, 'error').then(([error]) => {
      throw error;
    }),
  ]);
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://${host}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error?: Error) => (error ? reject(error) : resolve()));
      }),
  };
}

/**
 * The same dynalite, in memory, in a child node process: its CPU is then not
 * the caller's, as DynamoDB's is not the service's in AWS.
 */
export async function startDynamoProcess(host = '127.0.0.1'): Promise<EmbeddedDynamo> {
  const script = `
    const server = require('dynalite')(${JSON.stringify(INSTANT_TABLES)});
    server.listen(0, ${JSON.stringify(host)}, () => process.stdout.write(String(server.address().port) + '\\n'));
    process.stdin.on('end', () => process.exit(0)).resume();
  `;
  const child = spawn(process.execPath, ['-e', script], {
    cwd: join(__dirname, '..'),
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const [line] = (await Promise.race([
    once(child.stdout, 'data'),
    once(child, 'exit').then(([code]) => {
      throw new Error(`dynalite's process exited (${code}) before listening`);
    }),
  ])) as [Buffer];
  const port = Number(line.toString().trim());
  return {
    endpoint: `http://${host}:${port}`,
    port,
    close: async () => {
      if (child.exitCode !== null) return;
      const exited = once(child, 'exit');
      child.stdin.end();
      await exited;
    },
  };
}
