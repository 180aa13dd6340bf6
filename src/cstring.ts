const decoder = new TextDecoder();

/** The UTF-8 text of a C string: `bytes` up to the first NUL (all of them when there is none). */
export function decodeCString(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return decoder.decode(end < 0 ? bytes : bytes.subarray(0, end));
}
