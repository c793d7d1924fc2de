// The secondary layer's public surface.
export * from './identity.js';
export * from './outbox.js';
export * from './primary-address.js';
export * from './secondary.js';
export type { TaskContext, TaskHandler, TaskStarted, TasksOptions } from './secondary-options.js';
export { GoingDown, TaskFailure } from './task-outcome.js';
