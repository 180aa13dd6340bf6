// BPF instruction encoding: 8 bytes {opcode, dst:4|src:4, off:s16, imm:s32},
// little-endian (tsbpf loads objects for the host, which is little-endian).
export const INSN_SIZE = 8;

export const OP_LD_IMM64 = 0x18;
export const OP_CALL = 0x85;
export const OP_EXIT = 0x95;

/** src_reg values of ld_imm64 and call that tell the kernel what imm means. */
export const PSEUDO_MAP_FD = 1;
export const PSEUDO_MAP_VALUE = 2;
export const PSEUDO_BTF_ID = 3;
export const PSEUDO_FUNC = 4;
/** The kernel's own forms in translated code: the map as an index into fd_array. */
export const PSEUDO_MAP_IDX = 5;
export const PSEUDO_MAP_IDX_VALUE = 6;
/** src_reg of calls: a bpf-to-bpf call, or a call of a kernel function by BTF id. */
export const PSEUDO_CALL = 1;
export const PSEUDO_KFUNC_CALL = 2;

/** A mutable view over an instruction array. */
export class Insns {
  readonly view: DataView;

  constructor(readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get count(): number {
    return this.bytes.length / INSN_SIZE;
  }

  opcode(index: number): number {
    return this.bytes[index * INSN_SIZE]!;
  }

  srcReg(index: number): number {
    return this.bytes[index * INSN_SIZE + 1]! >> 4;
  }

  setSrcReg(index: number, reg: number): void {
    const at = index * INSN_SIZE + 1;
    this.bytes[at] = (this.bytes[at]! & 0x0f) | (reg << 4);
  }

  off(index: number): number {
    return this.view.getInt16(index * INSN_SIZE + 2, true);
  }

  setOff(index: number, value: number): void {
    this.view.setInt16(index * INSN_SIZE + 2, value, true);
  }

  imm(index: number): number {
    return this.view.getInt32(index * INSN_SIZE + 4, true);
  }

  setImm(index: number, value: number): void {
    this.view.setInt32(index * INSN_SIZE + 4, value, true);
  }

  /** The 64-bit constant of an ld_imm64 pair starting at `index`. */
  imm64(index: number): bigint {
    const low = BigInt(this.view.getUint32(index * INSN_SIZE + 4, true));
    const high = BigInt(this.view.getUint32((index + 1) * INSN_SIZE + 4, true));
    return (high << 32n) | low;
  }

  setImm64(index: number, value: bigint): void {
    const unsigned = BigInt.asUintN(64, value);
    this.view.setUint32(index * INSN_SIZE + 4, Number(unsigned & 0xffffffffn), true);
    this.view.setUint32((index + 1) * INSN_SIZE + 4, Number(unsigned >> 32n), true);
  }

  isLdImm64(index: number): boolean {
    return this.opcode(index) === OP_LD_IMM64;
  }

  isPseudoCall(index: number): boolean {
    return this.opcode(index) === OP_CALL && this.srcReg(index) === PSEUDO_CALL;
  }
}
