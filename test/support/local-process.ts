import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { findSecrets } from './log-capture.js';

const ROOT = join(__dirname, '..', '..');
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');

export interface RunningProcess {
  child: ChildProcess;
  output: () => string;
  url: string;
  dynamoEndpoint: string;
  sandboxUrl: string;
  exit: Promise<number | null>;
}

/** Runs `npm start`'s entry as a child process (on free ports unless told otherwise). */
export function spawnLocalStack(env: Record<string, string>, args: string[] = []) {
  const child = spawn(TSX, [join(ROOT, 'local', 'start.ts'), ...args], {
    cwd: ROOT,
    env: { ...process.env, PORT: '0', DYNAMODB_PORT: '0', STRIPE_SANDBOX_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => output, exit };
}

export async function startLocalProcess(
  env: Record<string, string>,
  args: string[] = [],
): Promise<RunningProcess> {
  const proc = spawnLocalStack(env, args);
  const deadline = Date.now() + 60_000;
  while (!proc.output().includes('Press Ctrl+C')) {
    if (proc.child.exitCode !== null)
      throw new Error(`local stack exited ${proc.child.exitCode}:\n${proc.output()}`);
    if (Date.now() > deadline) {
      proc.child.kill('SIGKILL');
      throw new Error(`local stack did not start:\n${proc.output()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const find = (label: string) => {
    const match = proc.output().match(new RegExp(`${label}\\s+(http://\\S+)`));
    if (!match?.[1]) throw new Error(`no ${label} in output:\n${proc.output()}`);
    return match[1];
  };
  return {
    ...proc,
    url: find('API').replace(/\/v1\/health$/, ''),
    dynamoEndpoint: find('DynamoDB endpoint'),
    sandboxUrl: find('Stripe sandbox'),
  };
}

export async function stopProcess(proc: {
  child: ChildProcess;
  exit: Promise<number | null>;
  output: () => string;
}) {
  if (proc.child.exitCode === null) proc.child.kill('SIGTERM');
  const code = await proc.exit;
  const leaks = findSecrets(proc.output());
  if (leaks.length > 0) throw new Error(`the local stack printed secrets: ${leaks.join(', ')}`);
  return code;
}
