// picluster's library entry point: the roles, the connection layer, the protocol types.
export * from './common/index.js';
export * from './connection/index.js';
export * from './node/index.js';
export * from './primary/index.js';
// HA (issue 17): etcd's client and the PostgreSQL driver load only when used (optional dependencies).
export { type HaOptions, HaPrimary } from './primary/leadership/ha-primary.js';
export { LeaderElection } from './primary/leadership/leader-election.js';
export * from './protocol/index.js';
export * from './secondary/index.js';
export { NO_PG_DRIVER, openPostgresStore, postgresStoreFactory } from './store/postgres/open.js';
// Loaded when a primary opens it: the SQLite driver is an optional dependency (an agent needs none).
export { NO_SQLITE_DRIVER, openSqliteStore } from './store/sqlite/open.js';
export type { SqliteStore } from './store/sqlite/sqlite-store.js';
export * from './store/store-api.js';
export { createMetrics } from './web/metrics.js';
export { createApp, startWebServer, type WebServer, type WebServerOptions } from './web/server.js';
