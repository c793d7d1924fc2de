// picluster's library entry point: the roles, the connection layer, the protocol types.
export * from './common/index.js';
export * from './connection/index.js';
export * from './node/index.js';
export * from './primary/index.js';
export * from './protocol/index.js';
export * from './secondary/index.js';
export { openSqliteStore, SqliteStore } from './store/sqlite/sqlite-store.js';
export * from './store/store-api.js';
export { createMetrics } from './web/metrics.js';
export { createApp, startWebServer, type WebServer, type WebServerOptions } from './web/server.js';
