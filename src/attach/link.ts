// An attachment of a program. Closing it detaches the program.
import { ClosedError } from '../errors.js';
import { closeFd, objPin } from '../syscall/index.js';

export class Link {
  private fds: number[];

  /**
   * @param fd the link (or, on the ioctl path, the perf event) fd
   * @param extraFds other fds the attachment keeps open (e.g. the perf event behind a BPF link)
   */
  constructor(
    readonly description: string,
    fd: number,
    extraFds: number[] = [],
  ) {
    this.fds = [fd, ...extraFds];
  }

  get fd(): number {
    const fd = this.fds[0];
    if (fd === undefined) throw new ClosedError(`link ${this.description}`);
    return fd;
  }

  /** Pins a BPF link in bpffs so it outlives this process. */
  pin(path: string): void {
    objPin(this.fd, path);
  }

  close(): void {
    for (const fd of this.fds) closeFd(fd);
    this.fds = [];
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
