// bpf(2), one function per command tsbpf uses. Each takes plain values,
// fills the attr through its layout and throws a typed error on failure.
import { checkBytes, checkInteger, checkPath, cString, U32_MAX } from '../check.js';
import { decodeCString } from '../cstring.js';
import { SyscallError, TsbpfError, VerifierError } from '../errors.js';
import { errnoName, fail, lastErrno, raw, SYS } from './libc.js';
import {
  btfLoadAttr,
  getIdAttr,
  linkCreateAttr,
  mapCreateAttr,
  mapElemAttr,
  mapFreezeAttr,
  mapInfo,
  mapNextKeyAttr,
  objInfoAttr,
  objPinAttr,
  progInfo,
  progLoadAttr,
  rawTracepointOpenAttr,
  Struct,
  testRunAttr,
  type Layout,
  type Values,
} from './layout.js';

export const BPF_CMD = {
  MAP_CREATE: 0,
  MAP_LOOKUP_ELEM: 1,
  MAP_UPDATE_ELEM: 2,
  MAP_DELETE_ELEM: 3,
  MAP_GET_NEXT_KEY: 4,
  PROG_LOAD: 5,
  OBJ_PIN: 6,
  OBJ_GET: 7,
  PROG_TEST_RUN: 10,
  MAP_GET_FD_BY_ID: 14,
  OBJ_GET_INFO_BY_FD: 15,
  RAW_TRACEPOINT_OPEN: 17,
  BTF_LOAD: 18,
  MAP_FREEZE: 22,
  LINK_CREATE: 28,
} as const;
export type BpfCommand = keyof typeof BPF_CMD;

const EAGAIN = 11;
const ENOSPC = 28;

/** Calls bpf(cmd, attr); returns the non-negative result or -errno (never throws). */
function bpfRaw(cmd: BpfCommand, attr: Struct<Layout>): number {
  const result = Number(raw.bpf(SYS.bpf, BPF_CMD[cmd], attr.bytes, attr.bytes.length));
  return result < 0 ? -lastErrno() : result;
}

/** Calls bpf(cmd, attr) and throws SyscallError on failure. */
export function bpf(cmd: BpfCommand, attr: Struct<Layout>, detail?: string): number {
  for (;;) {
    const result = bpfRaw(cmd, attr);
    if (result >= 0) return result;
    // PROG_LOAD and a few others return EAGAIN when interrupted by a signal.
    if (-result !== EAGAIN) throw new SyscallError(`bpf(BPF_${cmd})`, -result, errnoName(-result), detail);
  }
}

export function closeFd(fd: number): void {
  if (raw.close(fd) < 0) fail('close', `fd ${fd}`);
}

export function mapCreate(values: Values<typeof mapCreateAttr>, name: string): number {
  return bpf('MAP_CREATE', new Struct(mapCreateAttr, values), `map '${name}'`);
}

export const BPF_ANY = 0;
export const BPF_NOEXIST = 1;
export const BPF_EXIST = 2;

export function mapUpdate(fd: number, key: Uint8Array, value: Uint8Array, flags = BPF_ANY): void {
  bpf('MAP_UPDATE_ELEM', new Struct(mapElemAttr, { map_fd: fd, key, value, flags }));
}

/** Copies the value for `key` into `value`; false when the key is absent. */
export function mapLookup(fd: number, key: Uint8Array, value: Uint8Array): boolean {
  const result = bpfRaw('MAP_LOOKUP_ELEM', new Struct(mapElemAttr, { map_fd: fd, key, value }));
  if (result === -2 /* ENOENT */) return false;
  if (result < 0) throw new SyscallError('bpf(BPF_MAP_LOOKUP_ELEM)', -result, errnoName(-result));
  return true;
}

/** Returns false when the key is absent. */
export function mapDelete(fd: number, key: Uint8Array): boolean {
  const result = bpfRaw('MAP_DELETE_ELEM', new Struct(mapElemAttr, { map_fd: fd, key }));
  if (result === -2) return false;
  if (result < 0) throw new SyscallError('bpf(BPF_MAP_DELETE_ELEM)', -result, errnoName(-result));
  return true;
}

/** Writes the key after `key` (or the first key when `key` is null) into `next`; false at the end. */
export function mapNextKey(fd: number, key: Uint8Array | null, next: Uint8Array): boolean {
  const result = bpfRaw('MAP_GET_NEXT_KEY', new Struct(mapNextKeyAttr, { map_fd: fd, key, next_key: next }));
  if (result === -2) return false;
  if (result < 0) throw new SyscallError('bpf(BPF_MAP_GET_NEXT_KEY)', -result, errnoName(-result));
  return true;
}

export function mapFreeze(fd: number): void {
  bpf('MAP_FREEZE', new Struct(mapFreezeAttr, { map_fd: fd }));
}

export function mapInfoByFd(fd: number): Struct<typeof mapInfo> {
  const info = new Struct(mapInfo);
  bpf('OBJ_GET_INFO_BY_FD', new Struct(objInfoAttr, { bpf_fd: fd, info_len: mapInfo.size, info: info.bytes }));
  return info;
}

/** A new fd for the map with this id (BPF_MAP_GET_FD_BY_ID); the caller closes it. */
export function mapGetFdById(id: number): number {
  return bpf('MAP_GET_FD_BY_ID', new Struct(getIdAttr, { map_id: id }), `map id ${id}`);
}

export interface ProgInfoOptions {
  /** Fetch the translated (post-verifier) instructions; default true. */
  xlated?: boolean;
  /** Fetch the ids of the maps the program uses; default true. */
  mapIds?: boolean;
  /** Fetch func_info / line_info records (8 / 16 bytes each); default false. */
  funcInfo?: boolean;
  lineInfo?: boolean;
}

export interface ProgInfo {
  /** The kernel's struct bpf_prog_info, from the call that filled in the buffers. */
  info: Struct<typeof progInfo>;
  /** Translated instructions, as the kernel dumps them (map loads show map ids). Empty unless asked for. */
  xlated: Uint8Array;
  mapIds: number[];
  funcInfo: Uint8Array;
  lineInfo: Uint8Array;
}

/** The 8-byte program tag (a hash of the instructions as loaded), as hex. */
export function progTag(info: Struct<typeof progInfo>): string {
  const at = progInfo.fields.tag.offset;
  return info.bytes.subarray(at, at + 8).toString('hex');
}

/**
 * BPF_OBJ_GET_INFO_BY_FD on a program, in two steps: the first call reports
 * the lengths, the second passes buffers of those lengths. Only the fields
 * asked for are sent back non-zero (the kernel writes through every non-zero
 * length whose pointer is set, so a length without a buffer would fault).
 */
export function progInfoByFd(fd: number, options: ProgInfoOptions = {}): ProgInfo {
  const getInfo = (info: Struct<typeof progInfo>) =>
    bpf('OBJ_GET_INFO_BY_FD', new Struct(objInfoAttr, { bpf_fd: fd, info_len: progInfo.size, info: info.bytes }), `program fd ${fd}`);
  const sizes = new Struct(progInfo);
  getInfo(sizes);
  const xlated = new Uint8Array(options.xlated === false ? 0 : sizes.u32('xlated_prog_len'));
  const mapIds = new Uint8Array(options.mapIds === false ? 0 : sizes.u32('nr_map_ids') * 4);
  const funcInfoSize = sizes.u32('func_info_rec_size');
  const lineInfoSize = sizes.u32('line_info_rec_size');
  const funcInfo = new Uint8Array(options.funcInfo ? sizes.u32('nr_func_info') * funcInfoSize : 0);
  const lineInfo = new Uint8Array(options.lineInfo ? sizes.u32('nr_line_info') * lineInfoSize : 0);
  const info = new Struct(progInfo, {
    xlated_prog_len: xlated.length,
    xlated_prog_insns: xlated,
    nr_map_ids: mapIds.length / 4,
    map_ids: mapIds,
    func_info_rec_size: funcInfo.length ? funcInfoSize : 0,
    nr_func_info: funcInfo.length ? funcInfo.length / funcInfoSize : 0,
    func_info: funcInfo,
    line_info_rec_size: lineInfo.length ? lineInfoSize : 0,
    nr_line_info: lineInfo.length ? lineInfo.length / lineInfoSize : 0,
    line_info: lineInfo,
  });
  getInfo(info);
  if (info.u32('xlated_prog_len') !== 0 && xlated.length && info.u64('xlated_prog_insns') === 0n) {
    throw new TsbpfError(`program fd ${fd}: the kernel withheld the translated instructions (bpf_dump_raw_ok: needs CAP_SYS_ADMIN, or kptr_restrict allows it)`);
  }
  const view = new DataView(mapIds.buffer, mapIds.byteOffset, mapIds.byteLength);
  return {
    info,
    xlated,
    mapIds: Array.from({ length: mapIds.length / 4 }, (_, i) => view.getUint32(i * 4, true)),
    funcInfo,
    lineInfo,
  };
}

const MAX_LOG_SIZE = (2 ** 32 - 1) >>> 2; // the kernel's limit for log_size
const FIRST_LOG_SIZE = 1 << 16;

/**
 * Loads a program. The first attempt asks for no log (fast path); when it
 * fails, the load is repeated with a verifier log grown until it is complete,
 * so a VerifierError never carries a truncated log.
 */
export function progLoad(values: Values<typeof progLoadAttr>, name: string): number {
  const attr = new Struct(progLoadAttr, { ...values, log_level: 0, log_size: 0, log_buf: null });
  const first = bpfRawRetrying('PROG_LOAD', attr);
  if (first >= 0) return first;

  let logSize = FIRST_LOG_SIZE;
  for (;;) {
    const log = Buffer.alloc(logSize);
    attr.set('log_level', 1).set('log_size', log.length).set('log_buf', log).set('log_true_size', 0);
    const result = bpfRawRetrying('PROG_LOAD', attr);
    if (result >= 0) return result; // the verifier accepted it this time (kernel state changed)
    const errno = -result;
    const trueSize = attr.u32('log_true_size');
    if ((errno === ENOSPC || trueSize > logSize) && logSize < MAX_LOG_SIZE) {
      logSize = Math.min(MAX_LOG_SIZE, Math.max(trueSize, logSize * 4));
      continue;
    }
    const text = decodeCString(log);
    if (!text) throw new SyscallError('bpf(BPF_PROG_LOAD)', errno, errnoName(errno), `program '${name}'`);
    throw new VerifierError('bpf(BPF_PROG_LOAD)', errno, errnoName(errno), name, text);
  }
}

function bpfRawRetrying(cmd: BpfCommand, attr: Struct<Layout>): number {
  for (let attempt = 0; ; attempt++) {
    const result = bpfRaw(cmd, attr);
    if (result !== -EAGAIN || attempt >= 5) return result;
  }
}

/** Loads BTF; on failure, repeats with a log so the error says what the kernel disliked. */
export function btfLoad(btf: Uint8Array): number {
  const attr = new Struct(btfLoadAttr, { btf, btf_size: btf.length });
  const first = bpfRawRetrying('BTF_LOAD', attr);
  if (first >= 0) return first;
  const log = Buffer.alloc(FIRST_LOG_SIZE);
  attr.set('btf_log_level', 1).set('btf_log_size', log.length).set('btf_log_buf', log);
  const result = bpfRawRetrying('BTF_LOAD', attr);
  if (result >= 0) return result;
  const text = decodeCString(log).trimEnd().split('\n').slice(-8).join('\n');
  throw new SyscallError('bpf(BPF_BTF_LOAD)', -result, errnoName(-result), text || undefined);
}

export interface TestRunOptions {
  data?: Uint8Array;
  dataOut?: Uint8Array;
  context?: Uint8Array;
  contextOut?: Uint8Array;
  repeat?: number;
  flags?: number;
  cpu?: number;
}

export interface TestRunResult {
  retval: number;
  /** Average nanoseconds per run, as measured by the kernel. */
  duration: number;
  dataSizeOut: number;
}

export function progTestRun(fd: number, options: TestRunOptions): TestRunResult {
  // u32 fields: -1 repeats would be 4294967295 runs inside one system call, with the event loop stuck in it.
  for (const name of ['repeat', 'flags', 'cpu'] as const) checkInteger(options[name] ?? 0, 0, U32_MAX, `testRun() ${name}`);
  for (const name of ['data', 'dataOut', 'context', 'contextOut'] as const) {
    if (options[name] !== undefined) checkBytes(options[name], `testRun() ${name}`);
  }
  const attr = new Struct(testRunAttr, {
    prog_fd: fd,
    data_in: options.data,
    data_size_in: options.data?.length ?? 0,
    data_out: options.dataOut,
    data_size_out: options.dataOut?.length ?? 0,
    ctx_in: options.context,
    ctx_size_in: options.context?.length ?? 0,
    ctx_out: options.contextOut,
    ctx_size_out: options.contextOut?.length ?? 0,
    repeat: options.repeat ?? 0,
    flags: options.flags ?? 0,
    cpu: options.cpu ?? 0,
  });
  bpf('PROG_TEST_RUN', attr);
  return { retval: attr.u32('retval') | 0, duration: attr.u32('duration'), dataSizeOut: attr.u32('data_size_out') };
}

export function linkCreate(values: Values<typeof linkCreateAttr>): number {
  return bpf('LINK_CREATE', new Struct(linkCreateAttr, values));
}

export function rawTracepointOpen(name: string | null, progFd: number): number {
  const cName = name === null ? null : cString(name, 'raw tracepoint');
  return bpf('RAW_TRACEPOINT_OPEN', new Struct(rawTracepointOpenAttr, { name: cName, prog_fd: progFd }));
}

export function objPin(fd: number, path: string): void {
  bpf('OBJ_PIN', new Struct(objPinAttr, { pathname: cString(checkPath(path, 'pin path'), 'pin path'), bpf_fd: fd }), path);
}

export function objGet(path: string, flags = 0): number {
  return bpf('OBJ_GET', new Struct(objPinAttr, { pathname: cString(checkPath(path, 'pinned path'), 'pinned path'), file_flags: flags }), path);
}

