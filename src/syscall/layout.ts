// Byte layouts of the kernel structs tsbpf fills in: the parts of union
// bpf_attr each command uses, struct bpf_map_info, struct perf_event_attr.
// Each field names its C member so test/layout.test.ts can compare every
// offset with the uapi header (offsetof) and with the running kernel's BTF.
import { checkBytes, checkInteger, checkU64, U32_MAX } from '../check.js';
import { addressOf } from './libc.js';

/** u32/u64: integers; ptr: a user pointer (__aligned_u64); name: char[16]; bits: a bitfield word (no offsetof). */
export type FieldKind = 'u32' | 'u64' | 'ptr' | 'name' | 'bits';

export interface Field {
  readonly offset: number;
  readonly kind: FieldKind;
  /** Member designator inside `struct` (e.g. "test.prog_fd"). */
  readonly member: string;
}

export interface Layout<Name extends string = string> {
  /** The C type the offsets refer to, e.g. "union bpf_attr". */
  readonly struct: string;
  /** Bytes we pass; at least the end of the last field we use. */
  readonly size: number;
  readonly fields: Readonly<Record<Name, Field>>;
}

type FieldSpec = readonly [offset: number, kind: FieldKind, member?: string];

function layout<Name extends string>(
  struct: string,
  size: number,
  prefix: string,
  specs: Record<Name, FieldSpec>,
): Layout<Name> {
  const fields = {} as Record<Name, Field>;
  for (const name of Object.keys(specs) as Name[]) {
    const [offset, kind, member] = specs[name];
    fields[name] = { offset, kind, member: member ?? prefix + name };
  }
  return { struct, size, fields };
}

// 168 bytes on 6.18. Older kernels accept a larger attr as long as the bytes
// they do not know are zero.
const BPF_ATTR_SIZE = 168;
const attr = <Name extends string>(prefix: string, specs: Record<Name, FieldSpec>) =>
  layout('union bpf_attr', BPF_ATTR_SIZE, prefix, specs);

export const mapCreateAttr = attr('', {
  map_type: [0, 'u32'],
  key_size: [4, 'u32'],
  value_size: [8, 'u32'],
  max_entries: [12, 'u32'],
  map_flags: [16, 'u32'],
  inner_map_fd: [20, 'u32'],
  numa_node: [24, 'u32'],
  map_name: [28, 'name'],
  map_ifindex: [44, 'u32'],
  btf_fd: [48, 'u32'],
  btf_key_type_id: [52, 'u32'],
  btf_value_type_id: [56, 'u32'],
  btf_vmlinux_value_type_id: [60, 'u32'],
  map_extra: [64, 'u64'],
});

export const mapElemAttr = attr('', {
  map_fd: [0, 'u32'],
  key: [8, 'ptr'],
  value: [16, 'ptr'],
  flags: [24, 'u64'],
});

export const mapNextKeyAttr = attr('', {
  map_fd: [0, 'u32'],
  key: [8, 'ptr'],
  next_key: [16, 'ptr'],
});

export const mapFreezeAttr = attr('', { map_fd: [0, 'u32'] });

export const progLoadAttr = attr('', {
  prog_type: [0, 'u32'],
  insn_cnt: [4, 'u32'],
  insns: [8, 'ptr'],
  license: [16, 'ptr'],
  log_level: [24, 'u32'],
  log_size: [28, 'u32'],
  log_buf: [32, 'ptr'],
  kern_version: [40, 'u32'],
  prog_flags: [44, 'u32'],
  prog_name: [48, 'name'],
  prog_ifindex: [64, 'u32'],
  expected_attach_type: [68, 'u32'],
  prog_btf_fd: [72, 'u32'],
  func_info_rec_size: [76, 'u32'],
  func_info: [80, 'ptr'],
  func_info_cnt: [88, 'u32'],
  line_info_rec_size: [92, 'u32'],
  line_info: [96, 'ptr'],
  line_info_cnt: [104, 'u32'],
  attach_btf_id: [108, 'u32'],
  attach_btf_obj_fd: [112, 'u32'],
  fd_array: [120, 'ptr'],
  log_true_size: [140, 'u32'],
});

export const objPinAttr = attr('', {
  pathname: [0, 'ptr'],
  bpf_fd: [8, 'u32'],
  file_flags: [12, 'u32'],
});

export const testRunAttr = attr('test.', {
  prog_fd: [0, 'u32'],
  retval: [4, 'u32'],
  data_size_in: [8, 'u32'],
  data_size_out: [12, 'u32'],
  data_in: [16, 'ptr'],
  data_out: [24, 'ptr'],
  repeat: [32, 'u32'],
  duration: [36, 'u32'],
  ctx_size_in: [40, 'u32'],
  ctx_size_out: [44, 'u32'],
  ctx_in: [48, 'ptr'],
  ctx_out: [56, 'ptr'],
  flags: [64, 'u32'],
  cpu: [68, 'u32'],
});

export const objInfoAttr = attr('info.', {
  bpf_fd: [0, 'u32'],
  info_len: [4, 'u32'],
  info: [8, 'ptr'],
});

export const rawTracepointOpenAttr = attr('raw_tracepoint.', {
  name: [0, 'ptr'],
  prog_fd: [8, 'u32'],
});

export const btfLoadAttr = attr('', {
  btf: [0, 'ptr'],
  btf_log_buf: [8, 'ptr'],
  btf_size: [16, 'u32'],
  btf_log_size: [20, 'u32'],
  btf_log_level: [24, 'u32'],
  btf_log_true_size: [28, 'u32'],
});

export const linkCreateAttr = attr('link_create.', {
  prog_fd: [0, 'u32'],
  target_fd: [4, 'u32'],
  attach_type: [8, 'u32'],
  flags: [12, 'u32'],
  bpf_cookie: [16, 'u64', 'link_create.perf_event.bpf_cookie'],
});

export const mapInfo = layout('struct bpf_map_info', 88, '', {
  type: [0, 'u32'],
  id: [4, 'u32'],
  key_size: [8, 'u32'],
  value_size: [12, 'u32'],
  max_entries: [16, 'u32'],
  map_flags: [20, 'u32'],
  name: [24, 'name'],
  btf_id: [64, 'u32'],
  btf_key_type_id: [68, 'u32'],
  btf_value_type_id: [72, 'u32'],
  map_extra: [80, 'u64'],
});

// BPF_MAP_GET_FD_BY_ID: the id is an anonymous union member (start_id, prog_id, map_id, …).
export const getIdAttr = attr('', {
  map_id: [0, 'u32'],
  next_id: [4, 'u32'],
  open_flags: [8, 'u32'],
});

// 232 bytes on 6.1 headers and on 6.18. `tag` is `__u8 tag[8]`: declared as
// an 8-byte field so its place is checked, read as bytes (never as a number).
// The one bitfield (gpl_compatible, sharing its 8-byte word with ifindex) is
// left out.
export const progInfo = layout('struct bpf_prog_info', 232, '', {
  type: [0, 'u32'],
  id: [4, 'u32'],
  tag: [8, 'u64'],
  jited_prog_len: [16, 'u32'],
  xlated_prog_len: [20, 'u32'],
  jited_prog_insns: [24, 'ptr'],
  xlated_prog_insns: [32, 'ptr'],
  load_time: [40, 'u64'],
  created_by_uid: [48, 'u32'],
  nr_map_ids: [52, 'u32'],
  map_ids: [56, 'ptr'],
  name: [64, 'name'],
  ifindex: [80, 'u32'],
  netns_dev: [88, 'u64'],
  netns_ino: [96, 'u64'],
  nr_jited_ksyms: [104, 'u32'],
  nr_jited_func_lens: [108, 'u32'],
  jited_ksyms: [112, 'ptr'],
  jited_func_lens: [120, 'ptr'],
  btf_id: [128, 'u32'],
  func_info_rec_size: [132, 'u32'],
  func_info: [136, 'ptr'],
  nr_func_info: [144, 'u32'],
  nr_line_info: [148, 'u32'],
  line_info: [152, 'ptr'],
  jited_line_info: [160, 'ptr'],
  nr_jited_line_info: [168, 'u32'],
  line_info_rec_size: [172, 'u32'],
  jited_line_info_rec_size: [176, 'u32'],
  nr_prog_tags: [180, 'u32'],
  prog_tags: [184, 'ptr'],
  run_time_ns: [192, 'u64'],
  run_cnt: [200, 'u64'],
  recursion_misses: [208, 'u64'],
  verified_insns: [216, 'u32'],
  attach_btf_obj_id: [220, 'u32'],
  attach_btf_id: [224, 'u32'],
});

// 128 bytes (PERF_ATTR_SIZE_VER7) covers every field we set and is understood
// by every kernel since 5.x; `flags` is the word of single-bit fields
// (disabled, inherit, …), located in the tests through `disabled`.
export const perfEventAttr = layout('struct perf_event_attr', 128, '', {
  type: [0, 'u32'],
  size: [4, 'u32'],
  config: [8, 'u64'],
  sample_period: [16, 'u64'],
  sample_type: [24, 'u64'],
  read_format: [32, 'u64'],
  flags: [40, 'bits'],
  wakeup_events: [48, 'u32'],
  bp_type: [52, 'u32'],
  // config1 and config2 as the kprobe and uprobe PMUs read them: a C string (function or path), and an offset.
  kprobe_func: [56, 'ptr'],
  probe_offset: [64, 'u64'],
});

// The first page of a perf event's ring mapping, shared with the kernel: the
// fields a ring reader needs. data_offset/data_size are 0 before 4.1 (the data
// then starts one page in and fills the rest of the mapping).
export const perfEventMmapPage = layout('struct perf_event_mmap_page', 1088, '', {
  data_head: [1024, 'u64'],
  data_tail: [1032, 'u64'],
  data_offset: [1040, 'u64'],
  data_size: [1048, 'u64'],
});

export type FieldValue = number | bigint | string | Uint8Array | null | undefined;
export type Values<L extends Layout> = Partial<Record<keyof L['fields'], FieldValue>>;

/**
 * A struct's bytes plus the buffers its pointer fields point into, which must
 * stay reachable until the system call returns.
 */
export class Struct<L extends Layout> {
  readonly bytes: Buffer;
  private readonly pinned: Uint8Array[] = [];

  constructor(
    readonly layout: L,
    values: Values<L> = {},
  ) {
    this.bytes = Buffer.alloc(layout.size);
    for (const [name, value] of Object.entries(values) as [keyof L['fields'] & string, FieldValue][]) {
      if (value !== undefined && value !== null) this.set(name, value);
    }
  }

  /**
   * Writes a field. A number that does not fit it, or a pointer to anything
   * but a Uint8Array, is a TsbpfError naming the field: never a number cut
   * down to one that fits, nor a value taken for an address.
   */
  set(name: keyof L['fields'] & string, value: FieldValue): this {
    const field = this.layout.fields[name] as Field;
    const { offset, kind } = field;
    if (value === undefined || value === null) {
      this.bytes.fill(0, offset, offset + fieldSize(kind));
      return this;
    }
    const what = `${this.layout.struct} ${field.member}`;
    switch (kind) {
      case 'u32':
        this.bytes.writeUInt32LE(checkInteger(value, 0, U32_MAX, what), offset);
        break;
      case 'u64':
      case 'bits':
        this.bytes.writeBigUInt64LE(checkU64(value, what), offset);
        break;
      case 'ptr': {
        const bytes = checkBytes(value, what);
        this.pinned.push(bytes);
        this.bytes.writeBigUInt64LE(bytes.byteLength ? addressOf(bytes) : 0n, offset);
        break;
      }
      case 'name': {
        const text = Buffer.from(String(value), 'latin1');
        this.bytes.fill(0, offset, offset + 16);
        text.copy(this.bytes, offset, 0, Math.min(text.length, 15));
        break;
      }
    }
    return this;
  }

  u32(name: keyof L['fields'] & string): number {
    return this.bytes.readUInt32LE((this.layout.fields[name] as Field).offset);
  }

  u64(name: keyof L['fields'] & string): bigint {
    return this.bytes.readBigUInt64LE((this.layout.fields[name] as Field).offset);
  }

  name(name: keyof L['fields'] & string): string {
    const offset = (this.layout.fields[name] as Field).offset;
    const raw = this.bytes.subarray(offset, offset + 16);
    const end = raw.indexOf(0);
    return raw.toString('latin1', 0, end < 0 ? 16 : end);
  }
}

export function fieldSize(kind: FieldKind): number {
  return kind === 'u32' ? 4 : kind === 'name' ? 16 : 8;
}
