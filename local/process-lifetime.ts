/**
 * How a local process (the stack, the sandbox) ends: on SIGINT, SIGTERM or
 * SIGHUP, and when the process that started it goes away (a terminal closed,
 * `npm` killed), so nothing is left holding the ports. `stop` runs once; if it
 * takes longer than `graceMs` the process exits anyway.
 */
export function stopOnSignals(
  stop: (reason: string) => Promise<void>,
  options: { graceMs?: number; parentPollMs?: number } = {},
): void {
  let stopping = false;
  const graceMs = options.graceMs ?? 10_000;
  const run = (reason: string) => {
    if (stopping) return;
    stopping = true;
    const force = setTimeout(() => {
      console.error('Shutdown took too long; exiting.');
      process.exit(1);
    }, graceMs);
    force.unref();
    stop(reason).then(
      () => process.exit(0),
      (error: unknown) => {
        console.error('Shutdown failed:', error instanceof Error ? error.message : error);
        process.exit(1);
      },
    );
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(signal, () => run(signal));
  // Orphaned (the parent died without passing a signal on): the kernel re-parents us.
  const parent = process.ppid;
  const watch = setInterval(() => {
    if (process.ppid !== parent) run('parent exited');
  }, options.parentPollMs ?? 1000);
  watch.unref();
}
