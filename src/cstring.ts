const decoder = new TextDecoder();
// Below this length, building an ASCII string in JS beats a TextDecoder call
// (a round trip into C++ that costs more than a short string's worth of work).
const SHORT_STRING = 32;

/** The UTF-8 text of a C string: `bytes` up to the first NUL (all of them when there is none). */
export function decodeCString(bytes: Uint8Array): string {
  return decodeCStringAt(bytes, 0, bytes.length);
}

/** decodeCString() of `bytes[start, start + length)`, without making a view of it first. */
export function decodeCStringAt(bytes: Uint8Array, start: number, length: number): string {
  if (length <= SHORT_STRING) {
    let text = '';
    for (let i = start; i < start + length; i++) {
      const byte = bytes[i]!;
      if (byte === 0) return text;
      if (byte >= 0x80) return decodeUtf8(bytes.subarray(start, start + length));
      text += String.fromCharCode(byte);
    }
    return text;
  }
  return decodeUtf8(bytes.subarray(start, start + length));
}

function decodeUtf8(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return decoder.decode(end < 0 ? bytes : bytes.subarray(0, end));
}
