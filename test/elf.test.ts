import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ElfFile, EM_BPF, SHT_REL, STT_FUNC } from '../src/elf/elf.ts';
import { ElfError } from '../src/errors.ts';
import { programBytes } from './helpers.ts';

test('reads sections, symbols and relocations of a clang-built object', () => {
  const elf = new ElfFile(programBytes('execsnoop'));
  assert.equal(elf.machine, EM_BPF);
  assert.equal(elf.littleEndian, true);
  const program = elf.section('tracepoint/syscalls/sys_enter_execve');
  assert.ok(program);
  assert.equal(program.size % 8, 0);
  const entry = elf.symbols.find((s) => s.name === 'execsnoop');
  assert.equal(entry?.type, STT_FUNC);
  assert.equal(entry?.sectionIndex, program.index);
  assert.equal(entry?.size, program.size);
  // .bss has a size but no bytes in the file.
  const bss = elf.section('.bss');
  assert.equal(bss?.size, 8);
  assert.equal(bss?.data.length, 0);
  const relocations = elf.relocations().get(program.index) ?? [];
  assert.ok(elf.sections.some((s) => s.type === SHT_REL));
  const targets = new Set(relocations.map((r) => r.symbol.name));
  assert.deepEqual([...targets].sort(), ['events', 'events__tsbpf_dropped', 'target_comm', 'target_pid']);
  for (const r of relocations) assert.equal(r.offset % 8, 0);
});

test('rejects what is not a complete ELF64 file with an ElfError', () => {
  const good = programBytes('execsnoop');
  const cases: [string, Uint8Array, RegExp][] = [
    ['empty', new Uint8Array(0), /bad magic/],
    ['text', new TextEncoder().encode('#!/bin/sh\necho hello\n'), /bad magic/],
    ['header only', good.slice(0, 40), /truncated ELF header/],
    ['cut short', good.slice(0, good.length - 200), /past the end/],
  ];
  const elf32 = good.slice();
  elf32[4] = 1;
  cases.push(['32-bit', elf32, /not a 64-bit ELF/]);
  const hugeOffset = good.slice();
  new DataView(hugeOffset.buffer).setBigUint64(40, 0xffff_ffff_ffffn, true);
  cases.push(['section headers far away', hugeOffset, /past the end|out of range/]);
  for (const [name, bytes, message] of cases) {
    assert.throws(() => new ElfFile(bytes), (e: unknown) => e instanceof ElfError && message.test(e.message), name);
  }
});

test('every truncation of a real object fails cleanly or parses', () => {
  const good = programBytes('ringbuf_test');
  for (let length = 0; length < good.length; length += 7) {
    try {
      new ElfFile(good.subarray(0, length)).relocations();
    } catch (error) {
      assert.ok(error instanceof ElfError, `length ${length}: ${String(error)}`);
    }
  }
});
