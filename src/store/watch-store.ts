// A store whose every rejected call is also told to a watcher (the call's own caller still gets
// the error): how a primary learns at once that its database was fenced off, whichever part of it
// made the call.

import type { Store } from './store-api.js';

export function watchRejections(store: Store, onRejected: (err: unknown) => void): Store {
  return new Proxy(store, {
    get(target, key) {
      const value = Reflect.get(target, key, target);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        const result = (value as (...a: unknown[]) => unknown).apply(target, args);
        if (result instanceof Promise) result.catch(onRejected);
        return result;
      };
    },
  });
}
