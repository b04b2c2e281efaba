import type { RecordsStore } from '../../shared/ports/records-store.js';

/**
 * The records store with some methods replaced (to count or fail writes); every other method
 * is the store's own, bound to it, so a method added to the store is never silently missing.
 */
export function wrapRecords(records: RecordsStore, overrides: Partial<RecordsStore>): RecordsStore {
  return new Proxy(records, {
    get(target, property, receiver) {
      if (Object.hasOwn(overrides, property)) return overrides[property as keyof RecordsStore];
      const value = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
