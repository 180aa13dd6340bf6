// Readiness of a file descriptor, reported on the Node event loop (libuv
// uv_poll through koffi): no thread is blocked and nothing spins. The watcher
// is only active between start() and stop(): a level-triggered watch left on
// while nobody drains the fd would call back on every loop iteration.
import { koffi } from './libc.js';

type PollHandle = ReturnType<typeof koffi.node.poll>;

export class FdWatcher {
  private handle: PollHandle | undefined;
  private closed = false;

  constructor(private readonly fd: number) {}

  /** Calls `onReady` (repeatedly, while the fd stays ready) until stop(). */
  start(onReady: () => void, events: { readable?: boolean; writable?: boolean } = { readable: true }): void {
    if (this.closed) throw new Error('FdWatcher is closed');
    const options = { readable: events.readable ?? false, writable: events.writable ?? false };
    if (this.handle) this.handle.start(options, onReady);
    else this.handle = koffi.node.poll(this.fd, options, onReady);
  }

  stop(): void {
    this.handle?.stop();
  }

  close(): void {
    this.closed = true;
    this.handle?.close();
    this.handle = undefined;
  }
}
