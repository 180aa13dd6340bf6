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

  /**
   * Calls `onReady` (repeatedly, while the fd stays ready) until stop(). An
   * exception from it is raised again from an immediate, as an uncaught
   * exception: let through, it would stay pending inside koffi and be thrown
   * later by whatever koffi call comes next, however unrelated.
   */
  start(onReady: () => void, events: { readable?: boolean; writable?: boolean } = { readable: true }): void {
    if (this.closed) throw new Error('FdWatcher is closed');
    const options = { readable: events.readable ?? false, writable: events.writable ?? false };
    const guarded = () => {
      try {
        onReady();
      } catch (error) {
        setImmediate(() => {
          throw error;
        });
      }
    };
    if (this.handle) this.handle.start(options, guarded);
    else this.handle = koffi.node.poll(this.fd, options, guarded);
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
