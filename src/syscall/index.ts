export * from './bpf.js';
export * from './mmap.js';
export * from './perf.js';
export * from './poll.js';
export * from './epoll.js';
export * from './mount.js';
export { PAGE_SIZE, errnoName } from './libc.js';
export * as layouts from './layout.js';
export { Struct } from './layout.js';
