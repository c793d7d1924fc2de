// An options object without its undefined values, so that spreading it over defaults keeps them.
// Pure.

export function definedOnly<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as Partial<T>;
}
