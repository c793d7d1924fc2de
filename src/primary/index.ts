// The primary layer's public surface.
export * from './handshake.js';
export * from './node-host.js';
export * from './primary.js';
export * from './registry.js';
