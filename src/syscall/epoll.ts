// epoll(7), used the way libbpf's ring_buffer and perf_buffer use it: one
// epoll instance holds many fds (rings, per-CPU perf buffers), each tagged
// with a key, and is asked without blocking which of them are ready. The
// epoll fd is itself pollable, so one FdWatcher on it wakes the Node event
// loop for all of them.
import { fail, lastErrno, raw } from './libc.js';

export const EPOLLIN = 0x001;
export const EPOLLOUT = 0x004;
const EPOLL_CLOEXEC = 0o2000000;
const EPOLL_CTL_ADD = 1;
const EPOLL_CTL_DEL = 2;
const EINTR = 4;

// struct epoll_event {u32 events; u64 data} is packed on x86-64 only.
const EVENT_SIZE = process.arch === 'x64' ? 12 : 16;
const DATA_OFFSET = process.arch === 'x64' ? 4 : 8;

export class Epoll {
  readonly fd: number;
  private readonly event = Buffer.alloc(EVENT_SIZE);
  private events = Buffer.alloc(EVENT_SIZE * 16);
  private closed = false;

  constructor() {
    this.fd = raw.epollCreate1(EPOLL_CLOEXEC);
    if (this.fd < 0) fail('epoll_create1');
  }

  /** Watches `fd` for `events` (level-triggered); ready() reports it as `key`. */
  add(fd: number, key: number, events: number, what: string): void {
    this.event.writeUInt32LE(events, 0);
    this.event.writeBigUInt64LE(BigInt(key), DATA_OFFSET);
    if (raw.epollCtl(this.fd, EPOLL_CTL_ADD, fd, this.event) < 0) fail('epoll_ctl(EPOLL_CTL_ADD)', what);
  }

  remove(fd: number, what: string): void {
    if (raw.epollCtl(this.fd, EPOLL_CTL_DEL, fd, this.event) < 0) fail('epoll_ctl(EPOLL_CTL_DEL)', what);
  }

  /** Keys of the fds ready now (never blocks), at most `max` of them. */
  ready(max: number): number[] {
    if (this.events.length < max * EVENT_SIZE) this.events = Buffer.alloc(max * EVENT_SIZE);
    let count: number;
    do count = raw.epollWait(this.fd, this.events, max, 0);
    while (count < 0 && lastErrno() === EINTR);
    if (count < 0) fail('epoll_wait');
    const keys: number[] = [];
    for (let i = 0; i < count; i++) keys.push(Number(this.events.readBigUInt64LE(i * EVENT_SIZE + DATA_OFFSET)));
    return keys;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    raw.close(this.fd);
  }
}
