// A program living in the kernel.
import { attachRawTracepoint } from '../attach/raw-tracepoint.js';
import { attachTracepoint } from '../attach/tracepoint.js';
import type { Link } from '../attach/link.js';
import { ClosedError, TsbpfError } from '../errors.js';
import type { ProgramSpec } from '../object/spec.js';
import { closeFd, objPin, progTestRun, type TestRunOptions, type TestRunResult } from '../syscall/index.js';

export class BpfProgram {
  private fdValue: number;
  /** Closed with the program (Link.close is idempotent, so links closed earlier are harmless here). */
  private readonly links = new Set<Link>();

  constructor(
    readonly spec: ProgramSpec,
    fd: number,
  ) {
    this.fdValue = fd;
  }

  get name(): string {
    return this.spec.name;
  }

  get fd(): number {
    if (this.fdValue < 0) throw new ClosedError(`program '${this.name}'`);
    return this.fdValue;
  }

  /** Runs the program once (or `repeat` times) in the kernel with BPF_PROG_TEST_RUN. */
  testRun(options: TestRunOptions = {}): TestRunResult {
    return progTestRun(this.fd, options);
  }

  /**
   * Attaches where the section name says (e.g. "tracepoint/syscalls/sys_enter_execve").
   * The link is closed with the program, or earlier by link.close().
   */
  attach(): Link {
    const { type, target } = this.spec.kind;
    let link: Link;
    switch (type) {
      case 'TRACEPOINT':
        if (!target) throw new TsbpfError(`program '${this.name}': section '${this.spec.section}' names no tracepoint (expected tracepoint/<category>/<name>)`);
        link = attachTracepoint(this.fd, target);
        break;
      case 'RAW_TRACEPOINT':
        link = attachRawTracepoint(this.fd, target);
        break;
      default:
        throw new TsbpfError(`program '${this.name}': attaching ${type} programs is not supported yet`);
    }
    this.links.add(link);
    return link;
  }

  pin(path: string): void {
    objPin(this.fd, path);
  }

  close(): void {
    if (this.fdValue < 0) return;
    for (const link of this.links) link.close();
    closeFd(this.fdValue);
    this.fdValue = -1;
  }
}
