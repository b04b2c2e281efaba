import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CfnElement } from 'aws-cdk-lib';
import type { FunctionName } from '../../shared/http/routes.js';
import type { CfnStack, CfnTemplate } from './cfn-env.js';
import { synthApp } from './synth.js';

const ROOT = join(__dirname, '..', '..');
const RUNNER = join(__dirname, 'bundle-runner.mjs');

/** A function as CDK would deploy it: its template entry and the folder CDK would zip and upload. */
export interface BundledFunction {
  name: FunctionName;
  logicalId: string;
  handler: string;
  runtime: string;
  timeoutSeconds: number;
  memorySize: number;
  /** `asset.<hash>` in the cloud assembly: the zip's contents. */
  codeDir: string;
}

export interface SynthesizedBundles {
  outdir: string;
  stateful: CfnStack;
  service: CfnStack;
  functions: Record<FunctionName, BundledFunction>;
  context: Record<string, unknown>;
}

/**
 * Synthesises the app (bundling with the local esbuild, as `npm run synth` does)
 * and finds each function's code where CDK would upload it from: the asset whose
 * object key is the function's `Code.S3Key`.
 */
export function synthBundles(): SynthesizedBundles {
  const synth = synthApp();
  const outdir = synth.assembly.directory;
  const stack = (artifactId: string, stackName: string): CfnStack => ({
    stackName,
    template: synth.assembly.getStackArtifact(artifactId).template as CfnTemplate,
  });
  const service = stack(synth.service.artifactId, synth.service.stackName);
  const stateful = stack(synth.stateful.artifactId, synth.stateful.stackName);
  const assets = JSON.parse(
    readFileSync(join(outdir, `${synth.service.artifactId}.assets.json`), 'utf8'),
  ) as {
    files: Record<
      string,
      { source: { path: string; packaging?: string }; destinations: Record<string, { objectKey: string }> }
    >;
  };
  const functions = {} as Record<FunctionName, BundledFunction>;
  for (const [name, fn] of Object.entries(synth.service.functions) as Array<
    [FunctionName, (typeof synth.service.functions)[FunctionName]]
  >) {
    const logicalId = synth.service.resolve(
      synth.service.getLogicalId(fn.fn.node.defaultChild as CfnElement),
    ) as string;
    const resource = service.template.Resources[logicalId];
    if (resource?.Type !== 'AWS::Lambda::Function') throw new Error(`${name}: no function ${logicalId}`);
    const props = resource.Properties as {
      Handler: string;
      Runtime: string;
      Timeout?: number;
      MemorySize?: number;
      Code: { S3Key?: unknown };
    };
    const s3Key = props.Code.S3Key;
    if (typeof s3Key !== 'string') throw new Error(`${name}: Code.S3Key is ${JSON.stringify(s3Key)}`);
    const asset = Object.values(assets.files).find((file) =>
      Object.values(file.destinations).some((d) => d.objectKey === s3Key),
    );
    if (!asset) throw new Error(`${name}: no asset is uploaded as ${s3Key}`);
    if (asset.source.packaging !== 'zip')
      throw new Error(`${name}: asset packaging ${asset.source.packaging}`);
    functions[name] = {
      name,
      logicalId,
      handler: props.Handler,
      runtime: props.Runtime,
      timeoutSeconds: props.Timeout ?? 3,
      memorySize: props.MemorySize ?? 128,
      codeDir: join(outdir, asset.source.path),
    };
  }
  return { outdir, stateful, service, functions, context: { ...synth.settings } as Record<string, unknown> };
}

/** The files a function's zip would hold. */
export const bundleFiles = (fn: BundledFunction) => readdirSync(fn.codeDir).sort();

/** Node 22 (Lambda's nodejs22.x), installed once by scripts/node22.sh. */
export function node22Binary(): string {
  const out = execFileSync(join(ROOT, 'scripts', 'node22.sh'), ['--print'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const bin = out.trim().split('\n').pop()?.trim();
  if (!bin || !existsSync(bin)) throw new Error(`scripts/node22.sh --print gave no binary: ${out}`);
  return bin;
}

/** What the test may set beside the template's variables (and what Lambda itself sets). */
export const TEST_OVERRIDES = new Set([
  'AWS_ENDPOINT_URL',
  'AWS_REGION',
  'AWS_DEFAULT_REGION',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'STRIPE_API_BASE',
]);

/**
 * The environment Lambda gives a function: the template's variables, what the
 * Lambda runtime sets itself, and the test's overrides (moto, credentials, the
 * Stripe sandbox). Fails if anything here would replace a template variable
 * other than the overrides allowed.
 */
export function lambdaEnvironment(
  fn: BundledFunction,
  physicalName: string,
  templateEnv: Record<string, string>,
  overrides: Record<string, string>,
): Record<string, string> {
  const runtime: Record<string, string> = {
    AWS_LAMBDA_FUNCTION_NAME: physicalName,
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.memorySize),
    AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${physicalName}`,
    AWS_LAMBDA_LOG_STREAM_NAME: `2025/01/01/[$LATEST]${physicalName.length.toString(16).padStart(32, '0')}`,
    AWS_EXECUTION_ENV: `AWS_Lambda_${fn.runtime}`,
    LAMBDA_TASK_ROOT: fn.codeDir,
    _HANDLER: fn.handler,
    TZ: ':UTC',
    LANG: 'en_US.UTF-8',
    PATH: '/usr/local/bin:/usr/bin:/bin',
  };
  for (const name of Object.keys(runtime)) {
    if (name in templateEnv)
      throw new Error(`${fn.name}: the template sets ${name}, which Lambda sets itself`);
  }
  for (const name of Object.keys(overrides)) {
    if (!TEST_OVERRIDES.has(name)) throw new Error(`${fn.name}: the test may not set ${name}`);
  }
  return { ...templateEnv, ...runtime, ...overrides };
}

export interface Invocation<T = unknown> {
  ok: boolean;
  phase: 'init' | 'invoke' | 'runner';
  result?: T;
  error?: { name: string; message: string };
  /** The environment variables the bundle looked up. */
  envRead: string[];
  /** How often something enumerated process.env. */
  envEnumerated: number;
  /** The child's stdout and stderr: the function's logs. */
  output: string;
  exitCode: number | null;
}

/**
 * One invocation of a bundle in its own Node 22 process (a cold start each
 * time): test/support/bundle-runner.mjs imports the handler module and calls
 * it with the event; the environment is exactly `env`, nothing inherited.
 */
export async function invokeBundle<T = unknown>(options: {
  node: string;
  fn: BundledFunction;
  env: Record<string, string>;
  event: unknown;
  /** How long the child may take before it is killed (its Lambda timeout plus room for a loaded machine). */
  killAfterMs?: number;
}): Promise<Invocation<T>> {
  const { fn } = options;
  const dir = mkdtempSync(join(tmpdir(), `invoke-${fn.name}-`));
  const eventFile = join(dir, 'event.json');
  writeFileSync(eventFile, JSON.stringify(options.event));
  const child = spawn(
    options.node,
    [RUNNER, fn.codeDir, fn.handler, eventFile, String(fn.timeoutSeconds * 1000)],
    { cwd: fn.codeDir, env: options.env, stdio: ['ignore', 'pipe', 'pipe', 'pipe'] },
  );
  let output = '';
  let report = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  (child.stdio[3] as NodeJS.ReadableStream).on('data', (chunk: Buffer) => {
    report += chunk.toString();
  });
  const killAfter = options.killAfterMs ?? fn.timeoutSeconds * 1000 + 120_000;
  const timer = setTimeout(() => child.kill('SIGKILL'), killAfter);
  const exitCode = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve(code));
  }).finally(() => {
    clearTimeout(timer);
    rmSync(dir, { recursive: true, force: true });
  });
  const line = report.trim().split('\n').pop();
  if (!line)
    throw new Error(`${fn.name}: the runner reported nothing (exit ${exitCode}); its output:\n${output}`);
  const parsed = JSON.parse(line) as {
    ok: boolean;
    phase: Invocation['phase'];
    result?: T;
    error?: { name: string; message: string };
    env: { read: string[]; enumerated: number };
  };
  return {
    ok: parsed.ok,
    phase: parsed.phase,
    ...(parsed.result !== undefined ? { result: parsed.result } : {}),
    ...(parsed.error ? { error: parsed.error } : {}),
    envRead: parsed.env.read,
    envEnumerated: parsed.env.enumerated,
    output,
    exitCode,
  };
}
