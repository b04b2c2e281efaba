import { InvokeStore, InvokeStoreBase } from '@aws/lambda-invoke-store';
import type { Context } from 'aws-lambda';

/**
 * Each local invocation in its own context, as Lambda runs concurrent
 * invocations in one execution environment: the runtime's InvokeStore, which
 * Powertools reads when `AWS_LAMBDA_MAX_CONCURRENCY` is set, so a handler's
 * appended log keys and Lambda context stay its own (the local stack runs
 * every function in one process, many at once).
 *
 * The store is made when this module loads: the AWS SDK asks for it on its
 * first request, and the first to ask decides whether it is the concurrent
 * kind. local/stack.ts imports this module before anything sends a request.
 */
const concurrency = process.env.AWS_LAMBDA_MAX_CONCURRENCY ?? '64';
// Until the store exists, Powertools must not look for it (it throws when the variable is set and the
// store is not there yet, as it would be in a process that inherited the variable).
delete process.env.AWS_LAMBDA_MAX_CONCURRENCY;
const store = InvokeStore.getInstanceAsync(true).then((instance) => {
  process.env.AWS_LAMBDA_MAX_CONCURRENCY = concurrency;
  return instance;
});

const REQUEST_ID = InvokeStoreBase.PROTECTED_KEYS.REQUEST_ID;

export async function invoke<T>(context: Context, fn: () => Promise<T>): Promise<T> {
  const invokeStore = await store;
  return invokeStore.run({ [REQUEST_ID]: context.awsRequestId }, fn);
}

/** Fails loudly if invocations would share one context (something made a single-invocation store first). */
export async function assertInvocationsIsolated(): Promise<void> {
  const invokeStore = await store;
  const seen = await Promise.all(
    ['a', 'b'].map((id) =>
      invokeStore.run({ [REQUEST_ID]: id }, async () => {
        await new Promise((resolve) => setTimeout(resolve, id === 'a' ? 5 : 0));
        return invokeStore.getRequestId();
      }),
    ),
  );
  if (seen[0] !== 'a' || seen[1] !== 'b') {
    throw new Error(
      'local invocations would share one Lambda context: the AWS SDK made its InvokeStore before AWS_LAMBDA_MAX_CONCURRENCY was set',
    );
  }
}
