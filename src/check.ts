// Checks of values on their way to the kernel: one that does not fit is a
// TsbpfError naming it, never a number the kernel reads as another one
// (-1 as 4294967295 runs, 2^32 + 16 as 16 entries).
import { TsbpfError } from './errors.js';

export const U32_MAX = 2 ** 32 - 1;
const U64_MAX = 2n ** 64n - 1n;

/** `value` if it is a number that is an integer from `min` to `max`; otherwise a TsbpfError naming `what`. */
export function checkInteger(value: unknown, min: number, max: number, what: string): number {
  if (typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max) return value;
  throw outOfRange(value, min, max, what);
}

/** `value` (a number or a bigint) as a u64; otherwise a TsbpfError naming `what`. */
export function checkU64(value: unknown, what: string): bigint {
  const integer = typeof value === 'bigint' ? value : typeof value === 'number' && Number.isInteger(value) ? BigInt(value) : -1n;
  if (integer >= 0n && integer <= U64_MAX) return integer;
  throw outOfRange(value, 0, U64_MAX, what);
}

/** `value` if it is a Uint8Array (a Buffer is one): bytes to hand the kernel, never a value taken for an address. */
export function checkBytes(value: unknown, what: string): Uint8Array {
  if (value instanceof Uint8Array) return value;
  throw new TsbpfError(`${what}: expected a Uint8Array (a Buffer is one), got ${describe(value)}`);
}

/** `value` if it is a path the kernel will read as given: a non-empty string, without a NUL byte (a C string ends at the first). */
export function checkPath(value: unknown, what: string): string {
  if (typeof value === 'string' && value !== '' && !value.includes('\0')) return value;
  throw new TsbpfError(`${what} ${describe(value)} is not a path (a non-empty string without NUL bytes)`);
}

/** `text` as a C string (bytes ending in NUL); a TsbpfError naming `what` if it holds a NUL byte, where the kernel would cut it short. */
export function cString(text: string, what: string): Buffer {
  if (text.includes('\0')) throw new TsbpfError(`${what} ${describe(text)} holds a NUL byte: the kernel would read only what comes before it`);
  return Buffer.from(`${text}\0`);
}

function outOfRange(value: unknown, min: number | bigint, max: number | bigint, what: string): TsbpfError {
  return new TsbpfError(`${what}: expected an integer from ${min} to ${max}, got ${describe(value)}`);
}

/** A value as an error message shows it: strings quoted, objects by their kind (Array, DataView…). */
function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'bigint') return `${value}n`;
  if ((typeof value === 'object' && value !== null) || typeof value === 'function') return Object.prototype.toString.call(value).slice(8, -1);
  return String(value);
}
