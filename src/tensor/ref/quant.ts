// Reference kernels of the quantized path (native/quant/): weight quantization with llama.cpp's
// reference rounding, GGUF blocks ↔ the packed layout, dequantization, the embedding lookup, the
// activation quantization linear_q applies, and linear_q itself. The layout (native/quant/quant.h):
// rows of W [N, K] in panels of 16; per panel and block of 32 values along K, a panel-block of 16
// f16 scales then the values interleaved in 4-byte groups, lane c of each 64-byte vector for row c
// (q8_0: q + 128; q4_0: GGUF's nibble bytes). fp32 arithmetic is emulated with Math.fround; the
// scalar native kernel gives these bits, the SIMD ones differ only by fused multiply-adds.
import { f16_to_f32, f32_to_f16 } from './gemm.js';

/** GGUF's type ids, which the kernels take as `qtype`. */
export const QTYPE = { q4_0: 2, q8_0: 8 } as const;
export type QTypeId = (typeof QTYPE)[keyof typeof QTYPE];

export const QBLOCK = 32;
export const QPANEL = 16;

export function ggmlBlockBytes(qtype: number): number {
  return qtype === QTYPE.q8_0 ? 34 : 18;
}

/** Bytes of W [N, K] in the packed layout (N rounded up to whole panels). */
export function packedBytes(qtype: number, N: number, K: number): number {
  return Math.ceil(N / QPANEL) * (K / QBLOCK) * QPANEL * ggmlBlockBytes(qtype);
}

function check(op: string, qtype: number, K: number): void {
  if (qtype !== QTYPE.q8_0 && qtype !== QTYPE.q4_0) throw new RangeError(`[${op}] qtype must be 8 (q8_0) or 2 (q4_0), got ${qtype}`);
  if (K % QBLOCK !== 0) throw new RangeError(`[${op}] K = ${K} is not a multiple of the block size ${QBLOCK}`);
}

const one16 = new Uint16Array(1);
const one32 = new Float32Array(1);
function toF16(x: number): number {
  one32[0] = x;
  f32_to_f16(one16, one32, 1);
  return one16[0];
}
function fromF16(h: number): number {
  one16[0] = h;
  f16_to_f32(one32, one16, 1);
  return one32[0];
}

const f = Math.fround;
/** C's roundf: halves away from zero. */
const roundAway = (v: number) => Math.sign(v) * Math.floor(Math.abs(v) + 0.5);
/** The SIMD conversions' rounding: halves to even. */
function roundEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Offset of row n's panel-block b, and where its values start. */
function panelBlock(qtype: number, nb: number, n: number, b: number): number {
  return (Math.floor(n / QPANEL) * nb + b) * QPANEL * ggmlBlockBytes(qtype);
}

/** Byte of value group `g` (4 values) of lane c in a panel-block's values. */
const lane = (g: number, c: number, i: number) => 2 * QPANEL + 64 * g + 4 * c + i;

function blockToPanel(dst: Uint8Array, pb: number, c: number, g: Uint8Array, go: number, qtype: number): void {
  dst[pb + 2 * c] = g[go];
  dst[pb + 2 * c + 1] = g[go + 1];
  if (qtype === QTYPE.q8_0) for (let k = 0; k < 32; k++) dst[pb + lane(k >> 2, c, k & 3)] = g[go + 2 + k] ^ 0x80;
  else for (let j = 0; j < 16; j++) dst[pb + lane(j >> 2, c, j & 3)] = g[go + 2 + j];
}

function panelToBlock(g: Uint8Array, go: number, src: Uint8Array, pb: number, c: number, qtype: number): void {
  g[go] = src[pb + 2 * c];
  g[go + 1] = src[pb + 2 * c + 1];
  if (qtype === QTYPE.q8_0) for (let k = 0; k < 32; k++) g[go + 2 + k] = src[pb + lane(k >> 2, c, k & 3)] ^ 0x80;
  else for (let j = 0; j < 16; j++) g[go + 2 + j] = src[pb + lane(j >> 2, c, j & 3)];
}

function padPanelRows(dst: Uint8Array, qtype: number, N: number, K: number): void {
  const nb = K / QBLOCK;
  const zero = new Uint8Array(34);
  if (qtype === QTYPE.q4_0) zero.fill(0x88, 2, 18);
  for (let n = N; n < Math.ceil(N / QPANEL) * QPANEL; n++) for (let b = 0; b < nb; b++) blockToPanel(dst, panelBlock(qtype, nb, n, b), n % QPANEL, zero, 0, qtype);
}

/** llama.cpp's reference rounding of 32 values x[o ..] into GGUF block bytes g[go ..]. */
export function quantizeBlock(g: Uint8Array, go: number, x: Float32Array, o: number, qtype: number): void {
  const dv = new DataView(g.buffer, g.byteOffset);
  if (qtype === QTYPE.q8_0) {
    let amax = 0;
    for (let i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(x[o + i]));
    const d = f(amax / 127), id = d !== 0 ? f(1 / d) : 0;
    dv.setUint16(go, toF16(d), true);
    for (let i = 0; i < 32; i++) g[go + 2 + i] = roundAway(f(x[o + i] * id)) & 0xff;
  } else {
    let amax = 0, max = 0;
    for (let i = 0; i < 32; i++)
      if (Math.abs(x[o + i]) > amax) {
        amax = Math.abs(x[o + i]);
        max = x[o + i];
      }
    const d = f(max / -8), id = d !== 0 ? f(1 / d) : 0;
    dv.setUint16(go, toF16(d), true);
    for (let j = 0; j < 16; j++) {
      const a = Math.min(15, Math.trunc(f(f(x[o + j] * id) + 8.5)));
      const b = Math.min(15, Math.trunc(f(f(x[o + 16 + j] * id) + 8.5)));
      g[go + 2 + j] = a | (b << 4);
    }
  }
}

export function quantize_q(dst: Uint8Array, src: Float32Array, N: number, K: number, qtype: number): void {
  check('quantize_q', qtype, K);
  for (let i = 0; i < N * K; i++)
    if (!Number.isFinite(src[i])) throw new RangeError(`[quantize_q] src[${i}] (row ${Math.floor(i / K)}) is ${src[i]}: only finite weights can be quantized`);
  const nb = K / QBLOCK, g = new Uint8Array(34);
  for (let r = 0; r < N; r++)
    for (let b = 0; b < nb; b++) {
      quantizeBlock(g, 0, src, r * K + b * QBLOCK, qtype);
      blockToPanel(dst, panelBlock(qtype, nb, r, b), r % QPANEL, g, 0, qtype);
    }
  padPanelRows(dst, qtype, N, K);
}

export function pack_q(dst: Uint8Array, src: Uint8Array, N: number, K: number, qtype: number): void {
  check('pack_q', qtype, K);
  const nb = K / QBLOCK, gb = ggmlBlockBytes(qtype);
  for (let r = 0; r < N; r++) for (let b = 0; b < nb; b++) blockToPanel(dst, panelBlock(qtype, nb, r, b), r % QPANEL, src, (r * nb + b) * gb, qtype);
  padPanelRows(dst, qtype, N, K);
}

export function unpack_q(dst: Uint8Array, src: Uint8Array, N: number, K: number, qtype: number): void {
  check('unpack_q', qtype, K);
  const nb = K / QBLOCK, gb = ggmlBlockBytes(qtype);
  for (let r = 0; r < N; r++) for (let b = 0; b < nb; b++) panelToBlock(dst, (r * nb + b) * gb, src, panelBlock(qtype, nb, r, b), r % QPANEL, qtype);
}

function dequantizeRow(dst: Float32Array, o: number, w: Uint8Array, qtype: number, K: number, n: number): void {
  const nb = K / QBLOCK, c = n % QPANEL;
  for (let b = 0; b < nb; b++) {
    const pb = panelBlock(qtype, nb, n, b);
    const d = fromF16(w[pb + 2 * c] | (w[pb + 2 * c + 1] << 8));
    for (let k = 0; k < 32; k++) {
      let q: number;
      if (qtype === QTYPE.q8_0) q = w[pb + lane(k >> 2, c, k & 3)] - 128;
      else {
        const byte = w[pb + lane((k & 15) >> 2, c, k & 3)];
        q = (k < 16 ? byte & 15 : byte >> 4) - 8;
      }
      dst[o + b * QBLOCK + k] = f(d * q);
    }
  }
}

export function dequantize_q(dst: Float32Array, src: Uint8Array, N: number, K: number, qtype: number): void {
  check('dequantize_q', qtype, K);
  for (let r = 0; r < N; r++) dequantizeRow(dst, r * K, src, qtype, K, r);
}

export function embedding_fwd_q(out: Float32Array, table: Uint8Array, ids: Int32Array, T: number, V: number, D: number, qtype: number): void {
  check('embedding_fwd_q', qtype, D);
  for (let t = 0; t < T; t++) if (ids[t] < 0 || ids[t] >= V) throw new RangeError(`[embedding_fwd_q] ids[${t}] = ${ids[t]} is outside [0, V = ${V})`);
  for (let t = 0; t < T; t++) dequantizeRow(out, t * D, table, qtype, D, ids[t]);
}

/**
 * The activation quantization of linear_q: per row and block of 32, d = max|x|/127 and
 * q = x/d rounded half to even (a block with NaN or ±inf gets d = NaN and q = 0, so the output is
 * NaN); s = Σq of the block.
 */
export function quantize_rows_q8(q: Int8Array, d: Float32Array, s: Int32Array, x: Float32Array, M: number, K: number): void {
  check('quantize_rows_q8', QTYPE.q8_0, K);
  const nb = K / QBLOCK;
  for (let m = 0; m < M; m++)
    for (let b = 0; b < nb; b++) {
      const o = m * K + b * QBLOCK;
      let amax = 0, bad = false;
      for (let i = 0; i < 32; i++) {
        if (!Number.isFinite(x[o + i])) bad = true;
        else amax = Math.max(amax, Math.abs(x[o + i]));
      }
      const db = bad ? NaN : f(amax / 127), id = db !== 0 ? f(1 / db) : 0;
      let sum = 0;
      for (let i = 0; i < 32; i++) {
        const v = Math.max(-127, Math.min(127, roundEven(f(x[o + i] * id))));
        q[o + i] = bad ? 0 : v;
        sum += q[o + i];
      }
      d[m * nb + b] = db;
      s[m * nb + b] = sum;
    }
}

/** C[M, N] (+)= A[M, K]·Wᵀ with W packed: A quantized as quantize_rows_q8, exact int32 block dots, fp32 scaling. */
export function linear_q(c: Float32Array, a: Float32Array, w: Uint8Array, M: number, N: number, K: number, qtype: number, accumulate: 0 | 1): void {
  check('linear_q', qtype, K);
  const nb = K / QBLOCK;
  const q = new Int8Array(M * K), d = new Float32Array(M * nb), s = new Int32Array(M * nb);
  quantize_rows_q8(q, d, s, a, M, K);
  const off = qtype === QTYPE.q8_0 ? 128 : 8;
  for (let m = 0; m < M; m++)
    for (let n = 0; n < N; n++) {
      const cn = n % QPANEL;
      let acc = 0;
      for (let b = 0; b < nb; b++) {
        const pb = panelBlock(qtype, nb, n, b), xo = m * K + b * QBLOCK;
        let dot = -off * s[m * nb + b];
        if (qtype === QTYPE.q8_0) for (let k = 0; k < 32; k++) dot += w[pb + lane(k >> 2, cn, k & 3)] * q[xo + k];
        else
          for (let j = 0; j < 16; j++) {
            const byte = w[pb + lane(j >> 2, cn, j & 3)];
            dot += (byte & 15) * q[xo + j] + (byte >> 4) * q[xo + 16 + j];
          }
        const scale = f(fromF16(w[pb + 2 * cn] | (w[pb + 2 * cn + 1] << 8)) * d[m * nb + b]);
        acc = f(acc + f(dot * scale));
      }
      c[m * N + n] = accumulate ? f(c[m * N + n] + acc) : acc;
    }
}
