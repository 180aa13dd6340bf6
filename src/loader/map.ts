// A map living in the kernel: its fd, element access (raw bytes, per-CPU
// values, values decoded from BTF), and its ring buffer.
import type { Btf } from '../btf/btf.js';
import { compileDecoder } from '../btf/decoder.js';
import { decodeValue, encodeValue } from '../btf/values.js';
import { checkBytes, checkInteger } from '../check.js';
import { possibleCpus } from '../cpus.js';
import { ClosedError, TsbpfError } from '../errors.js';
import type { MapSpec } from '../object/maps.js';
import { MapType } from '../object/maps.js';
import { releaseAllOrThrow } from '../release.js';
import { PerfBuffer, type PerfBufferOptions } from '../ringbuf/perf-buffer.js';
import { RingBuffer } from '../ringbuf/ringbuf.js';
import { UserRingBuffer } from '../ringbuf/user-ringbuf.js';
import { closeFd, mapDelete, mapInfoByFd, mapLookup, mapNextKey, mapUpdate, objPin } from '../syscall/index.js';

/** Map types whose every key holds one value per possible CPU. */
const PER_CPU_TYPES: ReadonlySet<number> = new Set([MapType.PERCPU_HASH, MapType.PERCPU_ARRAY, MapType.LRU_PERCPU_HASH, MapType.PERCPU_CGROUP_STORAGE]);

export class BpfMap {
  /**
   * A frozen copy of the spec the map was created from, with the kernel's own
   * type, key size and value size: buffers handed to the kernel are sized
   * from it, and the caller's spec may change (say, to load it again with
   * other sizes) while this map lives.
   */
  readonly spec: Readonly<MapSpec>;
  private fdValue: number;
  private ring: RingBuffer | undefined;
  private perf: PerfBuffer | undefined;
  private userRing: UserRingBuffer | undefined;
  private valueDecoder: ((bytes: Uint8Array) => unknown) | undefined;
  private keyDecoder: ((bytes: Uint8Array) => unknown) | undefined;

  /** @param btf the object's BTF, where the map's key and value types are */
  constructor(
    spec: Readonly<MapSpec>,
    fd: number,
    private readonly btf?: Btf,
  ) {
    const info = mapInfoByFd(fd);
    this.spec = Object.freeze({ ...spec, type: info.u32('type'), keySize: info.u32('key_size'), valueSize: info.u32('value_size') });
    this.fdValue = fd;
  }

  get name(): string {
    return this.spec.name;
  }

  get fd(): number {
    if (this.fdValue < 0) throw new ClosedError(`map '${this.name}'`);
    return this.fdValue;
  }

  /** Whether each key holds one value per possible CPU (the PERCPU map types): see lookupPerCpu(). */
  get perCpu(): boolean {
    return PER_CPU_TYPES.has(this.spec.type);
  }

  /** The value for `key` (a copy), or undefined when absent. */
  lookup(key: Uint8Array): Uint8Array | undefined {
    this.checkKey(key);
    this.refusePerCpu('lookup', 'lookupPerCpu');
    const value = new Uint8Array(this.spec.valueSize);
    return mapLookup(this.fd, key, value) ? value : undefined;
  }

  update(key: Uint8Array, value: Uint8Array, flags = 0): void {
    this.checkKey(key);
    this.refusePerCpu('update', 'updatePerCpu');
    this.checkValue(value);
    mapUpdate(this.fd, key, value, this.checkFlags(flags));
  }

  /**
   * A per-CPU map's values for `key`, one per possible CPU (in the order of
   * /sys/devices/system/cpu/possible), or undefined when absent.
   */
  lookupPerCpu(key: Uint8Array): Uint8Array[] | undefined {
    this.checkKey(key);
    const { stride, cpus } = this.perCpuLayout();
    const values = new Uint8Array(stride * cpus);
    if (!mapLookup(this.fd, key, values)) return undefined;
    return Array.from({ length: cpus }, (_, cpu) => values.slice(cpu * stride, cpu * stride + this.spec.valueSize));
  }

  /** Sets a per-CPU map's values for `key`: one per possible CPU. */
  updatePerCpu(key: Uint8Array, values: readonly Uint8Array[], flags = 0): void {
    this.checkKey(key);
    const { stride, cpus } = this.perCpuLayout();
    if (!Array.isArray(values)) throw new TsbpfError(`map '${this.name}': updatePerCpu takes an array of values, one per possible CPU`);
    if (values.length !== cpus) throw new TsbpfError(`map '${this.name}': ${values.length} values for ${cpus} possible CPUs`);
    const all = new Uint8Array(stride * cpus);
    values.forEach((value, cpu) => {
      this.checkValue(value);
      all.set(value, cpu * stride);
    });
    mapUpdate(this.fd, key, all, this.checkFlags(flags));
  }

  /**
   * The value for `key` decoded from the map's BTF value type: a plain object
   * for a struct (as ring buffer records decode), a number or bigint for an
   * integer, and so on; for a per-CPU map, an array with one per possible
   * CPU. `key` is raw bytes or a JS value encoded with the BTF key type.
   * Undefined when absent.
   */
  lookupValue(key: unknown): unknown {
    const keyBytes = this.encodeKey(key);
    const decode = (this.valueDecoder ??= this.decoderFor(this.spec.btfValueTypeId, 'value'));
    if (this.perCpu) return this.lookupPerCpu(keyBytes)?.map(decode);
    const value = this.lookup(keyBytes);
    return value && decode(value);
  }

  /** Every entry as [key, value], both decoded from the map's BTF types (see lookupValue). */
  *decodedEntries(): Generator<[key: unknown, value: unknown]> {
    const decodeKey = (this.keyDecoder ??= this.decoderFor(this.spec.btfKeyTypeId, 'key'));
    for (const key of this.keys()) {
      const value = this.lookupValue(key);
      // An entry deleted between the key and its lookup is left out.
      if (value !== undefined) yield [decodeKey(key), value];
    }
  }

  delete(key: Uint8Array): boolean {
    this.checkKey(key);
    return mapDelete(this.fd, key);
  }

  /** Every key, in the kernel's iteration order. */
  *keys(): Generator<Uint8Array> {
    let key: Uint8Array | null = null;
    for (;;) {
      const next = new Uint8Array(this.spec.keySize);
      if (!mapNextKey(this.fd, key, next)) return;
      yield next;
      key = next;
    }
  }

  /** Pins the map in bpffs at `path`. */
  pin(path: string): void {
    objPin(this.fd, path);
  }

  /**
   * This ring buffer map, mapped for reading (created once, closed with the
   * map). `readDropped` reads its drop counter, if the program keeps one.
   */
  ringBuffer(readDropped?: () => bigint): RingBuffer {
    if (this.spec.type !== MapType.RINGBUF) throw new TsbpfError(`map '${this.name}' is not a ring buffer`);
    this.ring ??= new RingBuffer(this.name, this.fd, readDropped);
    return this.ring;
  }

  /** This user ring buffer map, mapped for writing (created once, closed with the map). */
  userRingBuffer(): UserRingBuffer {
    if (this.spec.type !== MapType.USER_RINGBUF) throw new TsbpfError(`map '${this.name}' is not a user ring buffer`);
    this.userRing ??= new UserRingBuffer(this.name, this.fd);
    return this.userRing;
  }

  /**
   * Per-CPU perf rings for this perf event array, their events stored in the
   * map (closed with the map, or earlier by close(); one open at a time).
   */
  perfBuffer(options?: PerfBufferOptions): PerfBuffer {
    if (this.spec.type !== MapType.PERF_EVENT_ARRAY) throw new TsbpfError(`map '${this.name}' is not a perf event array`);
    // A second one would replace the first one's events in the map, and the first one's close() would remove them.
    if (this.perf && !this.perf.closed) throw new TsbpfError(`map '${this.name}' already has an open perf buffer: close it first`);
    this.perf = new PerfBuffer(this.name, this.fd, options);
    return this.perf;
  }

  close(): void {
    if (this.fdValue < 0) return;
    const fd = this.fdValue;
    this.fdValue = -1;
    releaseAllOrThrow([() => this.ring?.close(), () => this.perf?.close(), () => this.userRing?.close(), () => closeFd(fd)]);
  }

  private checkKey(key: Uint8Array): void {
    checkBytes(key, `map '${this.name}' key`);
    if (key.length !== this.spec.keySize) throw new TsbpfError(`map '${this.name}': key is ${key.length} bytes, expected ${this.spec.keySize}`);
  }

  private checkValue(value: Uint8Array): void {
    checkBytes(value, `map '${this.name}' value`);
    if (value.length !== this.spec.valueSize) throw new TsbpfError(`map '${this.name}': value is ${value.length} bytes, expected ${this.spec.valueSize}`);
  }

  private checkFlags(flags: number): number {
    return checkInteger(flags, 0, Number.MAX_SAFE_INTEGER, `map '${this.name}' update flags`);
  }

  /** The kernel reads and writes a per-CPU map's values as one buffer: a slot per possible CPU, each rounded up to 8 bytes. */
  private perCpuLayout(): { stride: number; cpus: number } {
    if (!this.perCpu) throw new TsbpfError(`map '${this.name}' is not a per-CPU map`);
    return { stride: (this.spec.valueSize + 7) & ~7, cpus: possibleCpus().length };
  }

  // A single-value buffer for a per-CPU map would let the kernel write one value per CPU past its end.
  private refusePerCpu(call: string, instead: string): void {
    if (this.perCpu) throw new TsbpfError(`map '${this.name}' is per-CPU: ${call}() cannot hold its values, use ${instead}()`);
  }

  private encodeKey(key: unknown): Uint8Array {
    if (key instanceof Uint8Array) return key;
    return encodeValue(this.typesBtf('key'), this.spec.btfKeyTypeId, key, `map '${this.name}' key`);
  }

  /** Bytes → JS value for one of the map's BTF types: a compiled decoder for structs and unions. */
  private decoderFor(typeId: number, what: 'key' | 'value'): (bytes: Uint8Array) => unknown {
    const btf = this.typesBtf(what);
    const kind = btf.skipQualifiers(typeId).kind;
    if (kind === 'struct' || kind === 'union') {
      const decode = compileDecoder(btf, typeId);
      return (bytes) => decode(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), 0);
    }
    return (bytes) => decodeValue(btf, typeId, bytes);
  }

  private typesBtf(what: 'key' | 'value'): Btf {
    const typeId = what === 'key' ? this.spec.btfKeyTypeId : this.spec.btfValueTypeId;
    if (!this.btf || typeId === 0) throw new TsbpfError(`map '${this.name}' has no BTF ${what} type (a legacy map, or an object without BTF)`);
    return this.btf;
  }
}
