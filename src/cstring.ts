// C strings to JS strings. ASCII — nearly every name in an ELF or BTF file,
// and most record strings — is built in JS: a TextDecoder call is a round
// trip into C++, and the first one of a process costs milliseconds more
// (Node loads its decoder lazily), which a cold `open` would pay.
const decoder = new TextDecoder();
// Up to this length, adding characters one by one beats making a subarray
// and calling String.fromCharCode.apply on it.
const SHORT_STRING = 32;
// String.fromCharCode.apply takes its bytes as call arguments: stay well under the stack's limit.
const APPLY_CHUNK = 4096;

/** The UTF-8 text of a C string: `bytes` up to the first NUL (all of them when there is none). */
export function decodeCString(bytes: Uint8Array): string {
  return decodeCStringAt(bytes, 0, bytes.length);
}

/** decodeCString() of `bytes[start, start + length)`, without making a view of it first. */
export function decodeCStringAt(bytes: Uint8Array, start: number, length: number): string {
  const limit = start + length;
  if (length <= SHORT_STRING) {
    let text = '';
    for (let i = start; i < limit; i++) {
      const byte = bytes[i]!;
      if (byte === 0) return text;
      if (byte >= 0x80) return decodeUtf8(bytes.subarray(start, limit));
      text += String.fromCharCode(byte);
    }
    return text;
  }
  const nul = bytes.indexOf(0, start);
  const end = nul < 0 || nul > limit ? limit : nul;
  for (let i = start; i < end; i++) if (bytes[i]! >= 0x80) return decoder.decode(bytes.subarray(start, end));
  let text = '';
  for (let at = start; at < end; at += APPLY_CHUNK) {
    text += String.fromCharCode.apply(null, bytes.subarray(at, Math.min(end, at + APPLY_CHUNK)) as unknown as number[]);
  }
  return text;
}

function decodeUtf8(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return decoder.decode(end < 0 ? bytes : bytes.subarray(0, end));
}
