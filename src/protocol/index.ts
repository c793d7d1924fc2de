// The protocol layer's public surface: frames, messages, errors. Pure: no I/O.

export * from './auth.js';
export * from './errors.js';
export * from './frame-decoder.js';
export * from './frame-encoder.js';
export * from './messages.js';
export * from './opening.js';
export * from './parse-json.js';
