// picluster's library entry point.
export * from './connection/index.js';
export * from './protocol/index.js';
