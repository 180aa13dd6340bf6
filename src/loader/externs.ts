// Values of an object's externs on the running kernel: `__kconfig` from the
// kernel's configuration (/proc/config.gz, /boot/config-<release>, or a file
// or record the caller gives), `__ksym` from /proc/kallsyms and kernel BTF.
import { existsSync, readFileSync } from 'node:fs';
import { arch, release } from 'node:os';
import { gunzipSync } from 'node:zlib';
import type { Btf } from '../btf/btf.js';
import { encodeValue } from '../btf/values.js';
import { TsbpfError } from '../errors.js';
import type { ExternSpec } from '../object/externs.js';
import type { ObjectSpec } from '../object/spec.js';
import { readRegularFile } from '../regular-file.js';

/** A configuration as `CONFIG_NAME → value` (`y`, `m`, a number, or a quoted string), or a config file path. */
export type KernelConfig = string | Readonly<Record<string, string>>;

/** The kernel version as LINUX_KERNEL_VERSION encodes it: (major << 16) + (minor << 8) + min(patch, 255). */
export function kernelVersionCode(text = release()): number {
  const [major = 0, minor = 0, patch = 0] = (text.match(/^(\d+)\.(\d+)(?:\.(\d+))?/) ?? []).slice(1).map((n) => Number(n ?? 0));
  return (major << 16) + (minor << 8) + Math.min(patch, 255);
}

/** Values libbpf defines itself rather than reading them from the kernel configuration. */
function builtinValues(): Record<string, string> {
  return {
    LINUX_KERNEL_VERSION: String(kernelVersionCode()),
    // Syscall wrappers (pt_regs-taking __x64_sys_*) exist on these architectures since 4.17.
    LINUX_HAS_SYSCALL_WRAPPER: arch() === 'x64' || arch() === 'arm64' ? 'y' : 'n',
    LINUX_HAS_BPF_COOKIE: 'y',
  };
}

// A kernel config is a few hundred KiB: a .gz that inflates past this is not one.
const MAX_CONFIG_BYTES = 64 << 20;

function readConfigFile(path: string): string {
  const bytes = readRegularFile(path, 'kernel config');
  if (!path.endsWith('.gz')) return new TextDecoder().decode(bytes);
  try {
    return new TextDecoder().decode(gunzipSync(bytes, { maxOutputLength: MAX_CONFIG_BYTES }));
  } catch (error) {
    throw new TsbpfError(`kernel config: ${path} is not a gzip file of at most ${MAX_CONFIG_BYTES} bytes (${(error as Error).message})`, { cause: error });
  }
}

/** CONFIG_* lines of a kernel config (`# CONFIG_X is not set` means n). */
export function parseKernelConfig(text: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const line of text.split('\n')) {
    const set = /^(CONFIG_\w+)=(.*)$/.exec(line);
    if (set) values.set(set[1]!, set[2]!);
    const unset = /^# (CONFIG_\w+) is not set$/.exec(line);
    if (unset) values.set(unset[1]!, 'n');
  }
  return values;
}

function loadKernelConfig(source: KernelConfig | undefined): Map<string, string> | undefined {
  if (source !== undefined && typeof source !== 'string') return new Map(Object.entries(source));
  // A path given is read (a missing one is an error); the usual places are tried.
  const path = source ?? ['/proc/config.gz', `/boot/config-${release()}`].find((candidate) => existsSync(candidate));
  if (!path) return undefined;
  return parseKernelConfig(readConfigFile(path));
}

/** The contents of the `.kconfig` map: each `__kconfig` extern encoded as its BTF type says. */
export function kconfigContents(spec: ObjectSpec, map: Uint8Array, source: KernelConfig | undefined): Uint8Array {
  const kconfig = [...spec.externs.values()].filter((e) => e.kind === 'kconfig');
  const builtins = builtinValues();
  let config: Map<string, string> | undefined;
  const bytes = map.slice();
  for (const extern of kconfig) {
    let text: string | undefined = builtins[extern.name];
    if (text === undefined) {
      config ??= loadKernelConfig(source) ?? new Map();
      text = config.get(extern.name);
    }
    if (text === undefined) {
      if (extern.weak) continue;
      const where = source === undefined ? '/proc/config.gz or /boot/config-' + release() : typeof source === 'string' ? source : 'the given configuration';
      throw new TsbpfError(`__kconfig extern ${extern.name} is not in ${where}; declare it __weak to default to 0`);
    }
    bytes.set(encodeKconfig(spec.btf!, extern, text), extern.offset);
  }
  return bytes;
}

function encodeKconfig(btf: Btf, extern: ExternSpec, text: string): Uint8Array {
  const type = btf.skipQualifiers(extern.typeId);
  const what = `__kconfig ${extern.name}=${text}`;
  if (type.kind === 'enum' && type.name === 'libbpf_tristate') {
    const tristate = ({ y: 1, n: 0, m: 2 } as Record<string, number>)[text];
    if (tristate === undefined) throw new TsbpfError(`${what}: expected y, n or m`);
    return encodeValue(btf, extern.typeId, tristate, extern.name);
  }
  if (type.kind === 'int' && type.bool) {
    if (text !== 'y' && text !== 'n') throw new TsbpfError(`${what}: a bool takes y or n`);
    return encodeValue(btf, extern.typeId, text === 'y' ? 1 : 0, extern.name);
  }
  if (type.kind === 'array') {
    const quoted = /^"(.*)"$/.exec(text);
    if (!quoted) throw new TsbpfError(`${what}: a char array takes a quoted string`);
    return encodeValue(btf, extern.typeId, quoted[1]!, extern.name);
  }
  if (text === 'y' || text === 'n' || text === 'm') return encodeValue(btf, extern.typeId, text === 'n' ? 0 : text === 'y' ? 1 : 2, extern.name);
  if (!/^-?(0x[0-9a-fA-F]+|\d+)$/.test(text)) throw new TsbpfError(`${what}: not a number`);
  const negative = text.startsWith('-');
  const magnitude = BigInt(negative ? text.slice(1) : text);
  return encodeValue(btf, extern.typeId, negative ? -magnitude : magnitude, extern.name);
}

/** How one `__ksym` extern resolves on this kernel; undefined for a weak extern the kernel lacks. */
export type KsymValue =
  | { kind: 'address'; address: bigint }
  | { kind: 'btf-var'; btfId: number }
  | { kind: 'kfunc'; btfId: number };

export function resolveKsyms(externs: readonly ExternSpec[], kernelBtf: () => Btf): Map<string, KsymValue | undefined> {
  const values = new Map<string, KsymValue | undefined>();
  const untyped = externs.filter((e) => e.kind === 'untyped-ksym');
  const addresses = untyped.length ? kallsymsAddresses(new Set(untyped.map((e) => e.name))) : new Map<string, bigint>();
  for (const extern of externs) {
    let value: KsymValue | undefined;
    if (extern.kind === 'untyped-ksym') {
      const address = addresses.get(extern.name);
      value = address === undefined ? undefined : { kind: 'address', address };
    } else if (extern.kind === 'typed-ksym' || extern.kind === 'kfunc') {
      const btfId = kernelBtf().idsByName(extern.name, extern.kind === 'kfunc' ? 'func' : 'var')[0];
      value = btfId === undefined ? undefined : extern.kind === 'kfunc' ? { kind: 'kfunc', btfId } : { kind: 'btf-var', btfId };
    } else {
      continue;
    }
    if (!value && !extern.weak) {
      const where = extern.kind === 'untyped-ksym' ? '/proc/kallsyms' : "the kernel's BTF";
      throw new TsbpfError(`__ksym extern ${extern.name} is not in ${where}; declare it __weak to allow its absence`);
    }
    values.set(extern.name, value);
  }
  return values;
}

/** Addresses of the wanted symbols in /proc/kallsyms (all zero without privileges). */
function kallsymsAddresses(wanted: ReadonlySet<string>): Map<string, bigint> {
  const found = new Map<string, bigint>();
  for (const line of readFileSync('/proc/kallsyms', 'utf8').split('\n')) {
    const [address, , name] = line.split(/\s+/, 3);
    if (name !== undefined && wanted.has(name) && !found.has(name)) found.set(name, BigInt(`0x${address}`));
  }
  return found;
}
