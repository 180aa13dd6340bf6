// perf_event_open(2) and the perf ioctls tracepoint attachment needs.
import { fail, raw, SYS } from './libc.js';
import { perfEventAttr, Struct, type Values } from './layout.js';

export const PERF_TYPE_SOFTWARE = 1;
export const PERF_TYPE_TRACEPOINT = 2;
/** The software event whose ring bpf_perf_event_output() writes to. */
export const PERF_COUNT_SW_BPF_OUTPUT = 10;
export const PERF_SAMPLE_RAW = 1 << 10;
/** perf_event_attr.flags bit 0: the event starts disabled. */
export const PERF_ATTR_FLAG_DISABLED = 1n;
export const PERF_FLAG_FD_CLOEXEC = 1 << 3;
export const PERF_EVENT_IOC_ENABLE = 0x2400;
export const PERF_EVENT_IOC_DISABLE = 0x2401;
export const PERF_EVENT_IOC_SET_BPF = 0x40042408;

export function perfEventOpen(values: Values<typeof perfEventAttr>, pid: number, cpu: number, what: string): number {
  const attr = new Struct(perfEventAttr, { size: perfEventAttr.size, ...values });
  const fd = Number(raw.perfEventOpen(SYS.perf_event_open, attr.bytes, pid, cpu, -1, PERF_FLAG_FD_CLOEXEC));
  if (fd < 0) fail('perf_event_open', what);
  return fd;
}

export function ioctl(fd: number, request: number, arg: number, what: string): void {
  if (raw.ioctl(fd, request, arg) < 0) fail('ioctl', what);
}
