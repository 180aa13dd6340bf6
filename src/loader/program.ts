// A program living in the kernel.
import { attachKprobe } from '../attach/kprobe.js';
import { attachRawTracepoint } from '../attach/raw-tracepoint.js';
import { attachTracing } from '../attach/tracing.js';
import { attachUprobe, parseUprobeTarget, type UprobeTarget } from '../attach/uprobe.js';
import { attachTracepoint } from '../attach/tracepoint.js';
import type { Link } from '../attach/link.js';
import { ClosedError, TsbpfError } from '../errors.js';
import { AttachType } from '../object/sections.js';
import type { ProgramSpec } from '../object/spec.js';
import { releaseAllOrThrow } from '../release.js';
import { closeFd, objPin, progInfoByFd, progTag, progTestRun, type TestRunOptions, type TestRunResult } from '../syscall/index.js';

/** What the kernel says about a loaded program (BPF_OBJ_GET_INFO_BY_FD). */
export interface ProgramInfo {
  /** The kernel's name (at most 15 characters). */
  name: string;
  /** BPF_PROG_TYPE_* number. */
  type: number;
  id: number;
  /** 16 hex digits: a hash of the instructions as loaded, map references zeroed. */
  tag: string;
  /** Translated instructions, in instructions (not bytes). */
  xlatedInsns: number;
  mapIds: number[];
  /** Instructions the verifier processed. */
  verifiedInsns: number;
  btfId: number;
  /** The kernel BTF type the program is attached through (tp_btf, fentry, fexit, lsm …), or 0. */
  attachBtfId: number;
}

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
      case 'TRACING':
      case 'LSM': {
        const { attachType } = this.spec.kind;
        if (attachType === undefined || attachType === 'TRACE_ITER' || attachType === 'LSM_CGROUP') {
          throw new TsbpfError(`program '${this.name}': attaching ${type} programs of attach type ${attachType} is not supported yet`);
        }
        link = attachTracing(this.fd, AttachType[attachType], `${this.spec.section} (${this.name})`);
        break;
      }
      case 'KPROBE': {
        const probe = /^\??(k|u)(ret)?probe(\.s)?\//.exec(this.spec.section);
        if (!probe) throw new TsbpfError(`program '${this.name}': attaching SEC("${this.spec.section}") is not supported yet (kprobe, kretprobe, uprobe and uretprobe are)`);
        link = probe[1] === 'k'
          ? attachKprobe(this.fd, target, probe[2] !== undefined)
          : attachUprobe(this.fd, { ...parseUprobeTarget(this.spec.section, target), retprobe: probe[2] !== undefined });
        break;
      }
      default:
        throw new TsbpfError(`program '${this.name}': attaching ${type} programs is not supported yet`);
    }
    this.links.add(link);
    return link;
  }

  /**
   * Attaches a uprobe or uretprobe program (its section says which) to
   * `target`: SEC("uprobe") with no target, or another binary, function or
   * process than the section names. Closed with the program, or earlier by
   * link.close().
   */
  attachUprobe(target: Omit<UprobeTarget, 'retprobe'>): Link {
    const probe = /^\??u(ret)?probe(\.s)?(\/|$)/.exec(this.spec.section);
    if (!probe) throw new TsbpfError(`program '${this.name}' (SEC("${this.spec.section}")) is not a uprobe program`);
    const link = attachUprobe(this.fd, { ...target, retprobe: probe[1] !== undefined });
    this.links.add(link);
    return link;
  }

  info(): ProgramInfo {
    const { info, mapIds } = progInfoByFd(this.fd, { xlated: false });
    return {
      name: info.name('name'),
      type: info.u32('type'),
      id: info.u32('id'),
      tag: progTag(info),
      xlatedInsns: info.u32('xlated_prog_len') / 8,
      mapIds,
      verifiedInsns: info.u32('verified_insns'),
      btfId: info.u32('btf_id'),
      attachBtfId: info.u32('attach_btf_id'),
    };
  }

  /** The kernel's translated instructions (after verification and rewriting; map loads show map ids). */
  xlated(): Uint8Array {
    return progInfoByFd(this.fd, { mapIds: false }).xlated;
  }

  pin(path: string): void {
    objPin(this.fd, path);
  }

  close(): void {
    if (this.fdValue < 0) return;
    const fd = this.fdValue;
    this.fdValue = -1;
    releaseAllOrThrow([...[...this.links].map((link) => () => link.close()), () => closeFd(fd)]);
  }
}
