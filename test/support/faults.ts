/** AWS-shaped failures for fault injection. */
export const throttled = () =>
  Object.assign(new Error('Rate exceeded'), {
    name: 'ThrottlingException',
    $retryable: { throttling: true },
  });
export const serviceDown = () =>
  Object.assign(new Error('Service unavailable'), { name: 'ServiceUnavailable' });

interface Plan {
  adapter: string;
  method: string;
  remaining: number;
  error: () => Error;
  /** A crash instead of an error: the call never returns, so nothing after it runs (no cleanup either). */
  crash?: { afterCall: boolean; reached: () => void };
}

/**
 * Makes a named adapter's method fail the next `times` calls. The local stack
 * wraps every adapter it hands the functions with `wrap` (LocalStackOptions.wrap.adapter).
 */
export class Faults {
  private plans: Plan[] = [];
  readonly injected: string[] = [];

  fail(adapter: string, method: string, times = 1, error: () => Error = throttled): this {
    this.plans.push({ adapter, method, remaining: times, error });
    return this;
  }

  /**
   * The process dies at this call: before the call reaches the backend, or
   * just after it (the write landed, the caller never learns). Resolves when
   * the crash point is reached.
   */
  crash(adapter: string, method: string, options: { afterCall?: boolean } = {}): Promise<void> {
    return new Promise((reached) => {
      this.plans.push({
        adapter,
        method,
        remaining: 1,
        error: throttled,
        crash: { afterCall: options.afterCall ?? false, reached },
      });
    });
  }

  pending(): number {
    return this.plans.reduce((n, p) => n + p.remaining, 0);
  }

  clear(): void {
    this.plans = [];
  }

  readonly wrap = <T extends object>(name: string, target: T): T =>
    new Proxy(target, {
      get: (obj, prop, receiver) => {
        const value = Reflect.get(obj, prop, receiver);
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          const plan = this.plans.find((p) => p.adapter === name && p.method === prop && p.remaining > 0);
          if (plan) {
            plan.remaining--;
            this.injected.push(`${name}.${String(prop)}`);
            if (plan.crash) {
              const { afterCall, reached } = plan.crash;
              const never = new Promise<never>(() => undefined);
              if (!afterCall) {
                reached();
                return never;
              }
              return Promise.resolve(value.apply(obj, args)).then(() => {
                reached();
                return never;
              });
            }
            return Promise.reject(plan.error());
          }
          return value.apply(obj, args);
        };
      },
    });
}
