// The store layer's public surface.

export * from './history-upkeep.js';
export * from './schema.js';
export * from './store.js';
export * from './vitals-history.js';
export * from './vitals-writer.js';
