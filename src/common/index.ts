// The common module's public surface: what every layer shares that is not the wire: every default
// and the logger interface. Pure: no I/O, imports nothing of ours.
export * from './defaults.js';
export * from './logger.js';
