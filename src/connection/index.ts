// The connection layer's public surface.
export * from './backoff.js';
export * from './clock.js';
export * from './connect.js';
export * from './connection.js';
export * from './connection-options.js';
export * from './heartbeat.js';
export * from './peer-address.js';
export * from './pending-requests.js';
export * from './socket-errors.js';
