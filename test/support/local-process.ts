import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { findSecrets } from './log-capture.js';

const ROOT = join(__dirname, '..', '..');
/** How package.json's scripts run TypeScript: one node process with tsx as its loader. */
export const NODE_TSX = [process.execPath, '--import', 'tsx'] as const;

export interface SpawnedProcess {
  child: ChildProcess;
  output: () => string;
  exit: Promise<number | null>;
}

export interface RunningProcess extends SpawnedProcess {
  url: string;
  dynamoEndpoint: string;
  sandboxUrl: string;
}

/** Runs a command in the repo (on free ports unless told otherwise), collecting its output. */
export function spawnCommand(command: readonly string[], env: Record<string, string>): SpawnedProcess {
  const [file, ...args] = command as [string, ...string[]];
  const child = spawn(file, args, {
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

/** Runs `npm start`'s entry as a child process, as its script does. */
export function spawnLocalStack(env: Record<string, string>, args: string[] = []): SpawnedProcess {
  return spawnCommand([...NODE_TSX, join(ROOT, 'local', 'start.ts'), ...args], env);
}

/** Waits until a spawned local stack says it is ready; its URLs from what it printed. */
export async function whenStarted(proc: SpawnedProcess, timeoutMs = 90_000): Promise<RunningProcess> {
  const deadline = Date.now() + timeoutMs;
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

export async function startLocalProcess(
  env: Record<string, string>,
  args: string[] = [],
): Promise<RunningProcess> {
  return whenStarted(spawnLocalStack(env, args));
}

export async function stopProcess(proc: SpawnedProcess) {
  if (proc.child.exitCode === null) proc.child.kill('SIGTERM');
  const code = await proc.exit;
  const leaks = findSecrets(proc.output());
  if (leaks.length > 0) throw new Error(`the local stack printed secrets: ${leaks.join(', ')}`);
  return code;
}
