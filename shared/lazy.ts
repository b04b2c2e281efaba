/*
 * What a function's init pays for. Lambda runs a module's top level before the first request,
 * so a schema or a client built there is paid for by every cold start, needed or not.
 */

/**
 * Builds a module-scope value in a call esbuild may drop: write it `/* @__PURE__ *\/ built(() => …)`.
 * zod builds a schema when its module loads, and esbuild cannot know a zod call has no side
 * effects: without the mark, a function importing one schema of a module builds all of them.
 */
export function built<T>(build: () => T): T {
  return build();
}

/** A value made on first use, once: for what only some invocations need (a rare path's client). */
export function lazy<T>(make: () => T): () => T {
  let made: { value: T } | undefined;
  return () => {
    made ??= { value: make() };
    return made.value;
  };
}

/**
 * A port whose adapter is made on its first call, once. The function's other paths never
 * create its client: connect-confirm deletes a replaced connection's secret (Secrets Manager)
 * only when a connection replaces another.
 */
export function onFirstUse<T extends object>(make: () => T): T {
  const real = lazy(make);
  return new Proxy({} as T, {
    get(_target, property) {
      const value = Reflect.get(real(), property);
      return typeof value === 'function' ? value.bind(real()) : value;
    },
  });
}
