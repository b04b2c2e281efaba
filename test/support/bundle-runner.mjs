// Runs one bundled Lambda handler once, as Lambda's Node.js runtime would: the
// function's code folder as the task root and working directory, its Handler
// (`index.handler`) resolved to index.mjs|js|cjs there, one invocation with a
// Lambda-like context. Plain JavaScript, run directly by the Node 22 binary.
//
//   node bundle-runner.mjs <taskRoot> <handler> <eventFile> <timeoutMs>
//
// Writes one JSON line to file descriptor 3 (not stdout: stdout and stderr are
// the function's own output, which the test scans for secrets):
//   { ok, result | error, phase, env: { read, enumerated } }
// `env.read` lists every environment variable name the bundle looked up
// (process.env is wrapped in a recording Proxy before the bundle is imported).
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [taskRoot, handlerSpec, eventFile, timeoutArg] = process.argv.slice(2);
const realEnv = process.env;
const read = new Set();
let enumerated = 0;
const note = (key) => {
  if (typeof key === 'string') read.add(key);
};
process.env = new Proxy(realEnv, {
  get(target, key) {
    note(key);
    return Reflect.get(target, key);
  },
  has(target, key) {
    note(key);
    return Reflect.has(target, key);
  },
  getOwnPropertyDescriptor(target, key) {
    note(key);
    return Reflect.getOwnPropertyDescriptor(target, key);
  },
  ownKeys(target) {
    enumerated++;
    return Reflect.ownKeys(target);
  },
});

function report(outcome) {
  writeSync(3, `${JSON.stringify({ ...outcome, env: { read: [...read].sort(), enumerated } })}\n`);
  process.exit(0);
}

const describe = (error) =>
  error instanceof Error
    ? { name: error.name, message: error.message }
    : { name: 'NonError', message: String(error) };

async function main() {
  const dot = handlerSpec.lastIndexOf('.');
  const moduleName = handlerSpec.slice(0, dot);
  const exportName = handlerSpec.slice(dot + 1);
  const file = ['.mjs', '.js', '.cjs']
    .map((ext) => join(taskRoot, `${moduleName}${ext}`))
    .find((candidate) => existsSync(candidate));
  if (!file)
    return report({
      ok: false,
      phase: 'init',
      error: { name: 'ImportModuleError', message: `no ${moduleName} module` },
    });
  let handler;
  try {
    handler = (await import(pathToFileURL(file).href))[exportName];
  } catch (error) {
    return report({ ok: false, phase: 'init', error: describe(error) });
  }
  if (typeof handler !== 'function')
    return report({
      ok: false,
      phase: 'init',
      error: { name: 'HandlerNotFound', message: `${handlerSpec} is not a function` },
    });

  const event = JSON.parse(readFileSync(eventFile, 'utf8'));
  const functionName = realEnv.AWS_LAMBDA_FUNCTION_NAME;
  const startedAt = Date.now();
  const timeoutMs = Number(timeoutArg);
  const context = {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: realEnv.AWS_LAMBDA_FUNCTION_VERSION,
    invokedFunctionArn: `arn:aws:lambda:${realEnv.AWS_REGION}:123456789012:function:${functionName}`,
    memoryLimitInMB: realEnv.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    awsRequestId: randomUUID(),
    logGroupName: realEnv.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: realEnv.AWS_LAMBDA_LOG_STREAM_NAME,
    getRemainingTimeInMillis: () => Math.max(0, startedAt + timeoutMs - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
  try {
    const result = await handler(event, context);
    return report({ ok: true, phase: 'invoke', result: result === undefined ? null : result });
  } catch (error) {
    return report({ ok: false, phase: 'invoke', error: describe(error) });
  }
}

main().catch((error) => report({ ok: false, phase: 'runner', error: describe(error) }));
