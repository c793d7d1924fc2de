// The store layer's public surface: the seam (store-api.ts), the writers over it, and the
// embedded SQLite implementation (which loads better-sqlite3, an optional dependency: the
// library's entry point takes openSqliteStore from sqlite/open.ts instead).

export * from './history-upkeep.js';
export * from './node-writer.js';
export * from './sqlite/schema.js';
export * from './sqlite/sqlite-store.js';
export * from './sqlite/vitals-history.js';
export * from './store-api.js';
export * from './vitals-writer.js';
