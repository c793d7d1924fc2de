// The node layer's public surface: what a machine is (info) and how it is doing (vitals).
export * from './data-dir-lock.js';
export type { DebugLogger } from './debug-logger.js';
export * from './machine-info.js';
export * from './private-files.js';
export type { ExecFileText, ThrottledFlags } from './throttle-reader.js';
export * from './vitals-reader.js';
