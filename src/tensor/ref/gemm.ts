// GEMM family and dtype conversions: the plain-loop reference, the spec for native/gemm/.
// Triple loops with float64 accumulation, rounded once to fp32 on store; bf16/f16 are uint16
// bit patterns. Conversions round to nearest even; a NaN stays a NaN with its quiet bit set and
// its top payload bits kept; f16 overflow gives ±inf and subnormals are exact.

/** C[M,N] (+)= op(A)·op(B); A stored [M,K] ([K,M] when transA), B stored [K,N] ([N,K] when transB). */
export function gemm_f32(
  c: Float32Array, a: Float32Array, b: Float32Array,
  M: number, N: number, K: number, transA: 0 | 1, transB: 0 | 1, accumulate: 0 | 1,
): void {
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) {
        const aik = transA ? a[k * M + i] : a[i * K + k];
        const bkj = transB ? b[j * K + k] : b[k * N + j];
        s += aik * bkj;
      }
      c[i * N + j] = accumulate ? c[i * N + j] + s : s;
    }
  }
}

/**
 * C[M,N] (+)= A[M,K]·W[N,K]ᵀ with W in bf16. A is first rounded to bf16 (nearest even) for every M,
 * so each product is an exact bf16 × bf16 one, as vdpbf16ps forms it.
 */
export function linear_bf16w(
  c: Float32Array, a: Float32Array, w: Uint16Array, M: number, N: number, K: number, accumulate: 0 | 1,
): void {
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += bf16ToNumber(numberToBf16(a[i * K + k])) * bf16ToNumber(w[j * K + k]);
      c[i * N + j] = accumulate ? c[i * N + j] + s : s;
    }
  }
}

/** C[M,N] = A[M,K]·B[N,K]ᵀ, both bf16. */
export function gemm_bf16(c: Float32Array, a: Uint16Array, b: Uint16Array, M: number, N: number, K: number): void {
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += bf16ToNumber(a[i * K + k]) * bf16ToNumber(b[j * K + k]);
      c[i * N + j] = s;
    }
  }
}

// ---- conversions ----

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

function f32Bits(x: number): number {
  f32[0] = x;
  return u32[0];
}

function bitsToF32(bits: number): number {
  u32[0] = bits >>> 0;
  return f32[0];
}

function numberToBf16(x: number): number {
  return bitsToBf16(f32Bits(x));
}

function bitsToBf16(u: number): number {
  if ((u & 0x7fffffff) > 0x7f800000) return (u >>> 16) | 0x40; // NaN: keep it one
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff; // nearest even; may carry into inf
}

function bf16ToNumber(h: number): number {
  return bitsToF32(h << 16);
}

function bitsToF16(u: number): number {
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  const mant = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    // subnormal f16: a count of 2^-24 units, rounded to nearest even
    if (e < -10) return sign;
    const m = mant | 0x800000;
    const shift = 14 - e;
    let r = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (r & 1))) r++;
    return sign | r;
  }
  let h = sign | (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h++; // a carry may reach 0x7c00 = inf
  return h;
}

function f16Bits32(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0x1f) return sign | 0x7f800000 | (mant ? 0x400000 | (mant << 13) : 0);
  if (exp === 0) {
    if (mant === 0) return sign;
    // subnormal: mant·2^-24 exactly, as a normal f32
    const x = mant * 2 ** -24;
    return sign | f32Bits(x);
  }
  return sign | ((exp + 127 - 15) << 23) | (mant << 13);
}

// The conversions read and write bit patterns, so NaN payloads survive (a round trip through a
// JS number may canonicalise them).
export function f32_to_bf16(dst: Uint16Array, src: Float32Array, n: number): void {
  const bits = new Uint32Array(src.buffer, src.byteOffset, n);
  for (let i = 0; i < n; i++) dst[i] = bitsToBf16(bits[i]);
}

export function bf16_to_f32(dst: Float32Array, src: Uint16Array, n: number): void {
  const out = new Uint32Array(dst.buffer, dst.byteOffset, n);
  for (let i = 0; i < n; i++) out[i] = src[i] << 16;
}

export function f32_to_f16(dst: Uint16Array, src: Float32Array, n: number): void {
  const bits = new Uint32Array(src.buffer, src.byteOffset, n);
  for (let i = 0; i < n; i++) dst[i] = bitsToF16(bits[i]);
}

export function f16_to_f32(dst: Float32Array, src: Uint16Array, n: number): void {
  const out = new Uint32Array(dst.buffer, dst.byteOffset, n);
  for (let i = 0; i < n; i++) out[i] = f16Bits32(src[i]) >>> 0;
}
