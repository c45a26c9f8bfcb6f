// ggml's quantized block formats, as GGUF files store them (the block_* structs of ggml-common.h
// and the dequantize_row_* functions of ggml-quants.c): for each type, how many values one block
// holds, how many bytes it takes, and how to turn blocks back into f32. Blocks are packed back to
// back, multi-byte fields are little-endian, and every scale or min stored as f16 is IEEE half.
//
// Every product below is exact in f32 (an f16 scale has 11 significant bits, and the small
// integers it multiplies, e.g. Q6_K's scale·quant ≤ 127·31, need at most 12 more), so computing in
// doubles and storing into a Float32Array gives ggml's f32 results bit for bit; the one rounding,
// of `a·q + m` or `a·q − m`, is a sum of two f32 values, which a double computes and rounds to the
// same f32 as f32 arithmetic would.
import { f16ToF32 } from './tensor-source.js';

export const GGML_BLOCK_TYPES = ['q4_0', 'q4_1', 'q5_0', 'q5_1', 'q8_0', 'q2_k', 'q3_k', 'q4_k', 'q5_k', 'q6_k'] as const;
export type GgmlBlockType = (typeof GGML_BLOCK_TYPES)[number];

export interface BlockLayout {
  /** values per block */
  block: number;
  /** bytes per block */
  bytes: number;
}

/** Decodes the block at byte `p` of `src` into out[o .. o + block). */
type BlockDecoder = (src: Uint8Array, p: number, out: Float32Array, o: number) => void;

const half = (b: Uint8Array, p: number): number => f16ToF32(b[p] | (b[p + 1] << 8));
const i8 = (v: number): number => (v << 24) >> 24;

// ---- 32-value blocks: one f16 scale d (and a min m for the _1 types); value j of the block is
// in the low nibble of byte j, value j + 16 in the high nibble of the same byte ----

/** Q4_0, 18 bytes: d, 16 bytes of 4-bit quants. x = d·(q − 8). */
function q4_0(b: Uint8Array, p: number, y: Float32Array, o: number): void {
  const d = half(b, p);
  for (let j = 0; j < 16; j++) {
    const q = b[p + 2 + j];
    y[o + j] = d * ((q & 15) - 8);
    y[o + j + 16] = d * ((q >> 4) - 8);
  }
}

/** Q4_1, 20 bytes: d, m, 16 bytes of 4-bit quants. x = d·q + m. */
function q4_1(b: Uint8Array, p: number, y: Float32Array, o: number): void {
  const d = half(b, p), m = half(b, p + 2);
  for (let j = 0; j < 16; j++) {
    const q = b[p + 4 + j];
    y[o + j] = d * (q & 15) + m;
    y[o + j + 16] = d * (q >> 4) + m;
  }
}

/** Q5_0, 22 bytes: d, a u32 holding bit 4 of value j in bit j, 16 bytes of low nibbles. x = d·(q − 16). */
function q5_0(b: Uint8Array, p: number, y: Float32Array, o: number): void {
  const d = half(b, p);
  const qh = (b[p + 2] | (b[p + 3] << 8) | (b[p + 4] << 16) | (b[p + 5] << 24)) >>> 0;
  for (let j = 0; j < 16; j++) {
    const q = b[p + 6 + j];
    y[o + j] = d * (((q & 15) | (((qh >>> j) & 1) << 4)) - 16);
    y[o + j + 16] = d * (((q >> 4) | (((qh >>> (j + 16)) & 1) << 4)) - 16);
  }
}

/** Q5_1, 24 bytes: d, m, the u32 of high bits, 16 bytes of low nibbles. x = d·q + m. */
function q5_1(b: Uint8Array, p: number, y: Float32Array, o: number): void {
  const d = half(b, p), m = half(b, p + 2);
  const qh = (b[p + 4] | (b[p + 5] << 8) | (b[p + 6] << 16) | (b[p + 7] << 24)) >>> 0;
  for (let j = 0; j < 16; j++) {
    const q = b[p + 8 + j];
    y[o + j] = d * ((q & 15) | (((qh >>> j) & 1) << 4)) + m;
    y[o + j + 16] = d * ((q >> 4) | (((qh >>> (j + 16)) & 1) << 4)) + m;
  }
}

/** Q8_0, 34 bytes: d, 32 int8 quants in order. x = d·q. */
function q8_0(b: Uint8Array, p: number, y: Float32Array, o: number): void {
  const d = half(b, p);
  for (let j = 0; j < 32; j++) y[o + j] = d * i8(b[p + 2 + j]);
}

// ---- 256-value super-blocks (K-quants): an f16 super-scale d (and dmin) times small per
// sub-block integer scales. The quants of a 128-value half sit in 32 bytes (2-bit) or 64
// (4-bit), each byte holding the same position l of several 32-value groups ----

/**
 * Q2_K, 84 bytes: 16 scale bytes (low nibble: scale, high nibble: min, one per 16 values),
 * 64 bytes of 2-bit quants, d, dmin. In half h, bits 2j..2j+1 of byte 32h + l are value
 * 128h + 32j + l. x = d·scale·q − dmin·min.
 */
function q2_k(b: Uint8Array, p: number, y: Float32Array, o: number): void {
  const d = half(b, p + 80), dmin = half(b, p + 82);
  for (let h = 0; h < 2; h++) {
    for (let j = 0; j < 4; j++) {
      for (let l = 0; l < 32; l++) {
        const sc = b[p + h * 8 + j * 2 + (l >> 4)];
        const q = (b[p + 16 + h * 32 + l] >> (2 * j)) & 3;
        y[o + h * 128 + j * 32 + l] = d * (sc & 15) * q - dmin * (sc >> 4);
      }
    }
  }
}

const q3Scales = new Int8Array(16);
/**
 * Q3_K, 110 bytes: 32 bytes of high bits (bit 4h + j of byte l belongs to value 128h + 32j + l),
 * 64 bytes of low 2-bit quants laid out as in Q2_K, 12 bytes packing sixteen 6-bit scales, d.
 * A clear high bit subtracts 4: x = d·(scale − 32)·(q − 4·!high).
 */
function q3_k(b: Uint8Array, p: number, y: Float32Array, o: number): void {
  const d = half(b, p + 108);
  const s = p + 96;
  const scales = q3Scales;
  // scale i: low 4 bits from the nibbles of bytes 0..7 (i < 8 low, else high nibble of byte
  // i − 8), high 2 bits from bits 2·⌊i/4⌋ of byte 8 + i mod 4
  for (let i = 0; i < 16; i++) {
    const lo = i < 8 ? b[s + i] & 15 : b[s + i - 8] >> 4;
    const hi = (b[s + 8 + (i & 3)] >> (2 * (i >> 2))) & 3;
    scales[i] = (lo | (hi << 4)) - 32;
  }
  for (let h = 0; h < 2; h++) {
    for (let j = 0; j < 4; j++) {
      for (let l = 0; l < 32; l++) {
        const q = (b[p + 32 + h * 32 + l] >> (2 * j)) & 3;
        const high = (b[p + l] >> (4 * h + j)) & 1;
        y[o + h * 128 + j * 32 + l] = d * scales[h * 8 + j * 2 + (l >> 4)] * (q - (high ? 0 : 4));
      }
    }
  }
}

const kScales = new Uint8Array(8), kMins = new Uint8Array(8);
/**
 * The eight 6-bit (scale, min) pairs of Q4_K/Q5_K, packed in 12 bytes: pairs 0..3 are the low
 * 6 bits of bytes 0..3 (scale) and 4..7 (min); pairs 4..7 take their low 4 bits from the
 * nibbles of bytes 8..11 and their high 2 bits from the top bits of bytes 0..3 / 4..7.
 */
function kScaleMin(b: Uint8Array, s: number, sc: Uint8Array, mn: Uint8Array): void {
  for (let j = 0; j < 4; j++) {
    sc[j] = b[s + j] & 63;
    mn[j] = b[s + 4 + j] & 63;
    sc[j + 4] = (b[s + 8 + j] & 15) | ((b[s + j] >> 6) << 4);
    mn[j + 4] = (b[s + 8 + j] >> 4) | ((b[s + 4 + j] >> 6) << 4);
  }
}

/**
 * Q4_K, 144 bytes: d, dmin, the 12 packed scale/min bytes, 128 bytes of 4-bit quants. Byte
 * 32c + l holds value 64c + l (low nibble, sub-block 2c) and 64c + 32 + l (high, 2c + 1).
 * x = d·scale·q − dmin·min.
 */
function q4_k(b: Uint8Array, p: number, y: Float32Array, o: number): void {
  const d = half(b, p), dmin = half(b, p + 2);
  const sc = kScales, mn = kMins;
  kScaleMin(b, p + 4, sc, mn);
  for (let c = 0; c < 4; c++) {
    const d1 = d * sc[2 * c], m1 = dmin * mn[2 * c];
    const d2 = d * sc[2 * c + 1], m2 = dmin * mn[2 * c + 1];
    for (let l = 0; l < 32; l++) {
      const q = b[p + 16 + c * 32 + l];
      y[o + c * 64 + l] = d1 * (q & 15) - m1;
      y[o + c * 64 + 32 + l] = d2 * (q >> 4) - m2;
    }
  }
}

/** Q5_K, 176 bytes: Q4_K's fields plus 32 bytes of fifth bits before the nibbles: bit s of byte l belongs to sub-block s. */
function q5_k(b: Uint8Array, p: number, y: Float32Array, o: number): void {
  const d = half(b, p), dmin = half(b, p + 2);
  const sc = kScales, mn = kMins;
  kScaleMin(b, p + 4, sc, mn);
  for (let c = 0; c < 4; c++) {
    const d1 = d * sc[2 * c], m1 = dmin * mn[2 * c];
    const d2 = d * sc[2 * c + 1], m2 = dmin * mn[2 * c + 1];
    for (let l = 0; l < 32; l++) {
      const q = b[p + 48 + c * 32 + l], qh = b[p + 16 + l];
      y[o + c * 64 + l] = d1 * ((q & 15) | (((qh >> (2 * c)) & 1) << 4)) - m1;
      y[o + c * 64 + 32 + l] = d2 * ((q >> 4) | (((qh >> (2 * c + 1)) & 1) << 4)) - m2;
    }
  }
}

/**
 * Q6_K, 210 bytes: 128 bytes of low nibbles, 64 bytes of 2-bit high parts, 16 int8 scales (one
 * per 16 values), d. In half h, value 128h + 32k + l takes its low nibble from byte
 * 64h + 32(k & 1) + l (low nibble for k < 2, high otherwise) and bits 2k..2k+1 of high byte
 * 32h + l. x = d·scale·(q − 32).
 */
function q6_k(b: Uint8Array, p: number, y: Float32Array, o: number): void {
  const d = half(b, p + 208);
  for (let h = 0; h < 2; h++) {
    for (let k = 0; k < 4; k++) {
      for (let l = 0; l < 32; l++) {
        const lo = (b[p + h * 64 + (k & 1) * 32 + l] >> (k < 2 ? 0 : 4)) & 15;
        const hi = (b[p + 128 + h * 32 + l] >> (2 * k)) & 3;
        const scale = i8(b[p + 192 + h * 8 + k * 2 + (l >> 4)]);
        y[o + h * 128 + k * 32 + l] = d * scale * ((lo | (hi << 4)) - 32);
      }
    }
  }
}

const LAYOUTS: Record<GgmlBlockType, BlockLayout & { decode: BlockDecoder }> = {
  q4_0: { block: 32, bytes: 18, decode: q4_0 },
  q4_1: { block: 32, bytes: 20, decode: q4_1 },
  q5_0: { block: 32, bytes: 22, decode: q5_0 },
  q5_1: { block: 32, bytes: 24, decode: q5_1 },
  q8_0: { block: 32, bytes: 34, decode: q8_0 },
  q2_k: { block: 256, bytes: 84, decode: q2_k },
  q3_k: { block: 256, bytes: 110, decode: q3_k },
  q4_k: { block: 256, bytes: 144, decode: q4_k },
  q5_k: { block: 256, bytes: 176, decode: q5_k },
  q6_k: { block: 256, bytes: 210, decode: q6_k },
};

/** Whether `name` is one of the block types here, by rrt's lowercase name ('q4_k'). */
export function isGgmlBlockType(name: string): name is GgmlBlockType {
  return Object.hasOwn(LAYOUTS, name);
}

function layoutOf(typeName: string): [GgmlBlockType, BlockLayout & { decode: BlockDecoder }] {
  const t = typeof typeName === 'string' ? typeName.toLowerCase() : '';
  if (!isGgmlBlockType(t)) throw new RangeError(`'${String(typeName)}' is not a ggml block type rrt decodes (${GGML_BLOCK_TYPES.join(', ')})`);
  return [t, LAYOUTS[t]];
}

/** Values per block and bytes per block of a block type (lowercase or ggml's uppercase name). */
export function blockLayout(typeName: string): BlockLayout {
  const { block, bytes } = layoutOf(typeName)[1];
  return { block, bytes };
}

/** Exact bytes of n values of a block type; RangeError unless n is a whole number of blocks. */
export function blockByteLength(typeName: string, n: number): number {
  const [t, { block, bytes }] = layoutOf(typeName);
  if (!Number.isSafeInteger(n) || n < 0 || n % block !== 0) {
    throw new RangeError(`${t} holds whole blocks of ${block} values; ${n} values is not a whole number of blocks`);
  }
  return (n / block) * bytes;
}

/** The n values that the blocks in `bytes` hold, as f32. `bytes` must be exactly n/block blocks. */
export function dequantize(typeName: string, bytes: Uint8Array, n: number): Float32Array {
  const [t, { block, bytes: blockBytes, decode }] = layoutOf(typeName);
  const want = blockByteLength(t, n);
  if (!(bytes instanceof Uint8Array)) throw new TypeError(`${t}: blocks must be a Uint8Array, got ${(bytes as object)?.constructor?.name ?? typeof bytes}`);
  if (bytes.length !== want) throw new RangeError(`${t}: ${n} values are ${n / block} blocks of ${blockBytes} bytes = ${want} bytes, got ${bytes.length}`);
  const out = new Float32Array(n);
  for (let i = 0, p = 0; i < n; i += block, p += blockBytes) decode(bytes, p, out, i);
  return out;
}
