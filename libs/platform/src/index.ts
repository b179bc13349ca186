export * from './config.js';
export * from './logger.js';
export * from './bus/message-bus.js';
export * from './bus/in-process-bus.js';
export * from './bus/nats-bus.js';
export * from './bus/create-bus.js';
export * from './database/embedded-postgres.js';
export * from './database/data-source.js';
