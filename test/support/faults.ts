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
            return Promise.reject(plan.error());
          }
          return value.apply(obj, args);
        };
      },
    });
}
