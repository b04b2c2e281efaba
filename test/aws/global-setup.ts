import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';

/**
 * Starts moto's server (the AWS stand-in for the aws tier) on a free loopback
 * port for this test run. MOTO_SERVER may name the executable; otherwise
 * `moto_server` is taken from PATH. Missing → the tier fails, saying how to
 * install it; it never skips.
 */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

export default async function globalSetup(): Promise<void> {
  // Lambda runs nodejs22.x: this tier runs on Node 22 too (`npm run test:aws` puts the
  // project's own Node 22 first on PATH: scripts/node22.sh).
  const major = process.versions.node.split('.')[0];
  if (major !== '22')
    throw new Error(
      `The aws test tier runs on Node 22, Lambda's runtime, not ${process.version}: run it with \`npm run test:aws\` (or scripts/node22.sh npx jest --selectProjects aws).`,
    );
  const executable = process.env.MOTO_SERVER ?? 'moto_server';
  const probe = spawnSync(executable, ['--help'], { stdio: 'ignore' });
  if (probe.error || probe.status !== 0) {
    throw new Error(
      `The aws test tier needs moto's server, but '${executable}' could not be run.\n` +
        "Install it with: pip install 'moto[server]==5.2.1'  (or set MOTO_SERVER to its path).",
    );
  }
  const port = await freePort();
  const child: ChildProcess = spawn(executable, ['-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, MOTO_CALL_RESET_API: 'true' },
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`moto_server exited early:\n${stderr}`);
    try {
      const response = await fetch(`${endpoint}/moto-api/`);
      if (response.ok) break;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`moto_server did not answer on ${endpoint} within 30 s:\n${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  process.env.MOTO_ENDPOINT = endpoint;
  (globalThis as { __moto?: ChildProcess }).__moto = child;
}
