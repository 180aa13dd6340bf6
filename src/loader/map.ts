// A map living in the kernel: its fd, element access, and its ring buffer.
import { ClosedError, TsbpfError } from '../errors.js';
import type { MapSpec } from '../object/maps.js';
import { MapType } from '../object/maps.js';
import { PerfBuffer, type PerfBufferOptions } from '../ringbuf/perf-buffer.js';
import { RingBuffer } from '../ringbuf/ringbuf.js';
import { UserRingBuffer } from '../ringbuf/user-ringbuf.js';
import { closeFd, mapDelete, mapLookup, mapNextKey, mapUpdate, objPin } from '../syscall/index.js';

export class BpfMap {
  private fdValue: number;
  private ring: RingBuffer | undefined;
  private perf: PerfBuffer | undefined;
  private userRing: UserRingBuffer | undefined;

  constructor(
    readonly spec: Readonly<MapSpec>,
    fd: number,
  ) {
    this.fdValue = fd;
  }

  get name(): string {
    return this.spec.name;
  }

  get fd(): number {
    if (this.fdValue < 0) throw new ClosedError(`map '${this.name}'`);
    return this.fdValue;
  }

  /** The value for `key` (a copy), or undefined when absent. */
  lookup(key: Uint8Array): Uint8Array | undefined {
    this.checkKey(key);
    const value = new Uint8Array(this.spec.valueSize);
    return mapLookup(this.fd, key, value) ? value : undefined;
  }

  update(key: Uint8Array, value: Uint8Array, flags = 0): void {
    this.checkKey(key);
    if (value.length !== this.spec.valueSize) throw new TsbpfError(`map '${this.name}': value is ${value.length} bytes, expected ${this.spec.valueSize}`);
    mapUpdate(this.fd, key, value, flags);
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
    this.ring?.close();
    this.perf?.close();
    this.userRing?.close();
    closeFd(this.fdValue);
    this.fdValue = -1;
  }

  private checkKey(key: Uint8Array): void {
    if (key.length !== this.spec.keySize) throw new TsbpfError(`map '${this.name}': key is ${key.length} bytes, expected ${this.spec.keySize}`);
  }
}
