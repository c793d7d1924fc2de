// The node layer's public surface: what a machine is (info), how it is doing (vitals), and the
// executor every task that changes it goes through.
export * from './data-dir-lock.js';
export type { DebugLogger } from './debug-logger.js';
export * from './executor.js';
export * from './machine-info.js';
export * from './private-files.js';
export type { ExecFileText, ThrottledFlags } from './throttle-reader.js';
export * from './vitals-reader.js';
