// The kernel table: one interface, two implementations.
// `native` is the C++ addon (native/), `ref` the plain TypeScript reference in
// tensor/ref/ (the oracle the native kernels are tested against, and the
// fallback when the addon is missing or RRT_KERNELS=ref is set).
//
// Conventions:
//  - arguments are outputs first, then inputs, then sizes, then scalars;
//  - shape letters: B batch, T tokens, S keys, D model dim, H/Hkv heads, Dh head dim,
//    F FFN dim, V vocab, M/N/K matrix sizes; every array is row-major;
//  - parameter gradients (dw, db, dtable, dk/dv) ACCUMULATE (+=); activation
//    gradients (dx, dq, dgate, ...) are OVERWRITTEN;
//  - bf16 and f16 data travel as Uint16Array bit patterns;
//  - flags are 0/1 numbers.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { InputError } from '../errors.js';
import * as ref from './ref/index.js';

type F32 = Float32Array;
type U16 = Uint16Array;
type I32 = Int32Array;
type U8 = Uint8Array;
/** A fused layer's weight: f32, bf16 bit patterns, or packed q8_0/q4_0 bytes (its entry in qtypes says which). */
type W = F32 | U16 | U8;
type Flag = 0 | 1;

/** Activation codes shared by act_* and glu_* kernels. */
export const Act = { silu: 0, geluTanh: 1, geluErf: 2, relu: 3 } as const;
export type ActCode = (typeof Act)[keyof typeof Act];

export interface Kernels {
  // ---- GEMM and conversions (native/gemm) ----
  /** C[M,N] (+)= op(A)·op(B). op(A) is [M,K], stored [K,M] when transA; op(B) is [K,N], stored [N,K] when transB. */
  gemm_f32(c: F32, a: F32, b: F32, M: number, N: number, K: number, transA: Flag, transB: Flag, accumulate: Flag): void;
  /** C[M,N] (+)= A[M,K]·W[N,K]ᵀ with W stored as bf16 (linear forward on bf16 weights; A is rounded to bf16 for every M, so every product is exact bf16 × bf16). */
  linear_bf16w(c: F32, a: F32, w: U16, M: number, N: number, K: number, accumulate: Flag): void;
  /** C[M,N] = A[M,K]·B[N,K]ᵀ, both bf16, fp32 accumulation. */
  gemm_bf16(c: F32, a: U16, b: U16, M: number, N: number, K: number): void;
  f32_to_bf16(dst: U16, src: F32, n: number): void;
  bf16_to_f32(dst: F32, src: U16, n: number): void;
  f32_to_f16(dst: U16, src: F32, n: number): void;
  f16_to_f32(dst: F32, src: U16, n: number): void;

  // ---- quantized weights (native/quant/); qtype is GGUF's type id: 8 q8_0, 2 q4_0 ----
  // W [N, K] lives in the packed layout of native/quant/quant.h (packedBytes bytes; K a multiple of 32).
  /** f32 W → packed, with llama.cpp's reference rounding; a non-finite weight is a RangeError. */
  quantize_q(dst: U8, src: F32, N: number, K: number, qtype: number): void;
  /** GGUF's row-major blocks of W → packed. */
  pack_q(dst: U8, src: U8, N: number, K: number, qtype: number): void;
  /** packed → GGUF's row-major blocks. */
  unpack_q(dst: U8, src: U8, N: number, K: number, qtype: number): void;
  dequantize_q(dst: F32, src: U8, N: number, K: number, qtype: number): void;
  /** out[t] = row ids[t] of a packed table [V, D], dequantized. */
  embedding_fwd_q(out: F32, table: U8, ids: I32, T: number, V: number, D: number, qtype: number): void;
  /** The activation quantization linear_q applies: int8 q [M, K], scales d and sums s [M, K/32]. */
  quantize_rows_q8(q: Int8Array, d: F32, s: I32, x: F32, M: number, K: number): void;
  /** C[M,N] (+)= A[M,K]·Wᵀ, W packed: A quantized per block of 32 (quantize_rows_q8), int32 block dots, fp32 scaling. */
  linear_q(c: F32, a: F32, w: U8, M: number, N: number, K: number, qtype: number, accumulate: Flag): void;

  // ---- elementwise (native/kernels/elementwise.cpp) ----
  add_f32(out: F32, a: F32, b: F32, n: number): void;
  mul_f32(out: F32, a: F32, b: F32, n: number): void;
  /** out = a·s */
  scale_f32(out: F32, a: F32, s: number, n: number): void;
  /** y += alpha·x */
  axpy_f32(y: F32, x: F32, alpha: number, n: number): void;
  /** y[r,:] += b for each of `rows` rows of width N */
  add_bias_f32(y: F32, b: F32, rows: number, N: number): void;
  /** out[N] (+)= Σ_r x[r,:] */
  sum_rows_f32(out: F32, x: F32, rows: number, N: number, accumulate: Flag): void;
  /** index in [0, n) of the first maximum of x[offset .. offset+n), NaN ignored; 0 when none beats −inf */
  argmax_f32(x: F32, offset: number, n: number): number;

  // ---- early-exit confidence (native/kernels/confidence.cpp) ----
  /** argmax of x[offset .. offset+n) as argmax_f32; probs[0] = its softmax probability, probs[1] = the largest at any other index (NaN when the row has NaN, +inf or nothing above −inf) */
  softmax_top2_f32(probs: Float64Array, x: F32, offset: number, n: number): number;
  /** KL(softmax p ‖ softmax q) over n entries, each Q floored at qFloor (NaN when either row has no distribution) */
  kl_logits_f32(p: F32, pOffset: number, q: F32, qOffset: number, n: number, qFloor: number): number;

  // ---- norms (native/kernels/norm.cpp) ----
  /** y = x·rstd·w (plusOne: ·(1+w), Gemma); rstd[rows] saved when non-null. */
  rmsnorm_fwd_f32(y: F32, rstd: F32 | null, x: F32, w: F32, rows: number, D: number, eps: number, plusOne: Flag): void;
  rmsnorm_bwd_f32(dx: F32, dw: F32 | null, dy: F32, x: F32, w: F32, rstd: F32, rows: number, D: number, plusOne: Flag): void;
  /** y = (x−mean)·rstd·w + b; b may be null; mean/rstd saved when non-null. */
  layernorm_fwd_f32(y: F32, mean: F32 | null, rstd: F32 | null, x: F32, w: F32, b: F32 | null, rows: number, D: number, eps: number): void;
  layernorm_bwd_f32(dx: F32, dw: F32 | null, db: F32 | null, dy: F32, x: F32, w: F32, mean: F32, rstd: F32, rows: number, D: number): void;

  // ---- rotary embeddings (native/kernels/rope.cpp) ----
  /**
   * In place on x[T,H,Dh]: rotate the first rotDim dims of every head by pos[t]·invFreq[i].
   * interleaved=0 pairs (i, i+rotDim/2) (HF rotate_half: Llama, Gemma, Qwen2, GPT-NeoX);
   * interleaved=1 pairs (2i, 2i+1) (Meta/llama2.c/GGUF layout). inverse=1 rotates by −θ (the backward pass).
   */
  rope_f32(x: F32, pos: I32, invFreq: F32, T: number, H: number, Dh: number, rotDim: number, interleaved: Flag, inverse: Flag): void;

  // ---- activations (native/kernels/activation.cpp) ----
  act_fwd_f32(y: F32, x: F32, n: number, act: ActCode): void;
  act_bwd_f32(dx: F32, dy: F32, x: F32, n: number, act: ActCode): void;
  /** out = act(gate)·up (SwiGLU with silu, GeGLU with gelu) */
  glu_fwd_f32(out: F32, gate: F32, up: F32, n: number, act: ActCode): void;
  glu_bwd_f32(dgate: F32, dup: F32, dout: F32, gate: F32, up: F32, n: number, act: ActCode): void;

  // ---- softmax (native/kernels/softmax.cpp) ----
  softmax_fwd_f32(y: F32, x: F32, rows: number, cols: number): void;
  softmax_bwd_f32(dx: F32, dy: F32, y: F32, rows: number, cols: number): void;

  // ---- embedding (native/kernels/embedding.cpp); ids outside [0,V) throw RangeError ----
  embedding_fwd_f32(out: F32, table: F32, ids: I32, T: number, V: number, D: number): void;
  embedding_fwd_bf16(out: F32, table: U16, ids: I32, T: number, V: number, D: number): void;
  embedding_bwd_f32(dtable: F32, dout: F32, ids: I32, T: number, V: number, D: number): void;
  /** dst row rowsAt[t] = src row t (rows of D floats); rows in order, so a repeated index keeps the last. */
  scatter_rows_f32(dst: F32, src: F32, rowsAt: I32, rows: number, D: number): void;

  // ---- losses (native/kernels/loss.cpp) ----
  /**
   * Fused log-softmax cross-entropy. loss[r] = −log softmax(logits[r])[targets[r]] (0 where target == ignoreIndex);
   * when dlogits is non-null it is overwritten with gradScale·(softmax − onehot) (0 rows where ignored).
   */
  cross_entropy_f32(loss: F32, dlogits: F32 | null, logits: F32, targets: I32, rows: number, V: number, ignoreIndex: number, gradScale: number): void;
  /**
   * Forward KL(teacher ‖ student) at temperature τ per row: Σ p_t·(log p_t − log p_s), p = softmax(z/τ).
   * dlogits (w.r.t. student logits) = gradScale·(p_s − p_t)/τ, overwritten, when non-null.
   */
  kl_div_f32(loss: F32, dlogits: F32 | null, student: F32, teacher: F32, rows: number, V: number, temperature: number, gradScale: number): void;

  // ---- attention (native/kernels/attention.cpp) ----
  /**
   * Causal attention with grouped-query heads over a key/value cache, flash-style (no T×S matrix).
   * q[T,H,Dh]; k,v[S,Hkv,Dh] hold keys for absolute positions 0..S−1; query t sits at position pos0+t
   * and attends keys 0..pos0+t (pos0+T ≤ S). Head h reads kv head h/(H/Hkv). lse[H,T] (log-sum-exp of
   * the scores) is saved when non-null, for the backward pass.
   * window > 0: a sliding window, query position p sees only keys j > p − window (transformers'
   * sliding_window: `window` keys counting its own); earlier keys are not read. 0: none.
   * softcap > 0: a score x = scale·q·k becomes softcap·tanh(x/softcap) before the mask and the softmax
   * (Gemma 2's attn_logit_softcapping). 0: none.
   */
  attention_fwd_f32(out: F32, lse: F32 | null, q: F32, k: F32, v: F32, T: number, S: number, H: number, Hkv: number, Dh: number, pos0: number, scale: number, window: number, softcap: number): void;
  /**
   * One decode query per row against a paged KV pool (no gather): row r sits at position pos[r] of a
   * sequence whose page table starts at pages[pageStart[r]]; key j of that row is pool row
   * pages[pageStart[r] + ⌊j/pageRows⌋]·pageRows + j mod pageRows. out, q [rows,H,Dh]; kPool, vPool
   * [poolPages·pageRows, Hkv, Dh]; pageRows a multiple of 16. The bits of attention_fwd_f32 with
   * T = 1 on the same keys stored contiguously. window and softcap as attention_fwd_f32's; table
   * entries of pages wholly before a row's window are neither read nor checked.
   */
  attention_decode_paged_f32(out: F32, q: F32, kPool: F32, vPool: F32, pages: I32, pageStart: I32, pos: I32, rows: number, H: number, Hkv: number, Dh: number, pageRows: number, scale: number, window: number, softcap: number): void;
  /** dq overwritten; dk, dv accumulated. window and softcap as the forward's (the gradient goes through the cap's tanh). */
  attention_bwd_f32(dq: F32, dk: F32, dv: F32, dout: F32, q: F32, k: F32, v: F32, out: F32, lse: F32, T: number, S: number, H: number, Hkv: number, Dh: number, pos0: number, scale: number, window: number, softcap: number): void;

  // ---- optimizer (native/kernels/adamw.cpp) ----
  /** One AdamW step (decoupled weight decay, bias-corrected with `step` ≥ 1), in place on param, m, v. */
  adamw_f32(param: F32, grad: F32, m: F32, v: F32, n: number, lr: number, beta1: number, beta2: number, eps: number, weightDecay: number, step: number): void;
}

export interface NativeAddon extends Kernels {
  /**
   * One decoder block for one token of one sequence (native/kernels/decode_layer.cpp): RMSNorm, q/k/v
   * (+ biases), rotary on the first rotDim dims, append k, v to the caches at row `pos`, attention over
   * rows 0..pos, o (+ bias), residual, RMSNorm (of x when parallelResidual, else of x + o), act(gate)·up,
   * down (+ bias), residual: y = x + o + down(...). x, y [D]; caches [≥ pos+1, Hkv, Dh]; each weight
   * [out, in] is a Float32Array, a bf16 Uint16Array or packed q8_0/q4_0 bytes (qtypes: null, or
   * GGUF's type id per projection, 0 for f32/bf16); biases may be null. adapters: null, or 14
   * entries (A [r, in], B [out, r] of q, k, v, o, gate, up, down; null pairs for projections without
   * one), each added as (x·Aᵀ)·Bᵀ after the bias. Norms (RMSNorm, the layer's eps and plusOne), each
   * null where the layer has none: attnNorm, mlpNorm [D] on the sublayers' inputs; postAttnNorm,
   * postMlpNorm [D] on their outputs, before the residual adds (OLMo-2: these only; Gemma 2/3: all
   * four); qNorm, kNorm on q / k after the projection, before the rotary: [Dh] norms every head
   * (Qwen3, Gemma 3), [heads·Dh] the whole projection (OLMo-2). window, softcap: attention_fwd_f32's
   * (0: none). No TS reference: it is the general decoder path composed of the kernels above, and
   * matches it bit for bit.
   */
  decode_layer_f32(
    y: F32, kCache: F32, vCache: F32, x: F32, attnNorm: F32 | null, wq: W, wk: W, wv: W, wo: W,
    mlpNorm: F32 | null, wgate: W, wup: W, wdown: W,
    bq: F32 | null, bk: F32 | null, bv: F32 | null, bo: F32 | null, bgate: F32 | null, bup: F32 | null, bdown: F32 | null, invFreq: F32,
    D: number, H: number, Hkv: number, Dh: number, F: number, pos: number, rotDim: number,
    interleaved: Flag, eps: number, plusOne: Flag, act: ActCode, parallelResidual: Flag, scale: number,
    adapters: (F32 | U16 | null)[] | null, qtypes: I32 | null, qNorm: F32 | null, kNorm: F32 | null,
    postAttnNorm: F32 | null, postMlpNorm: F32 | null, window: number, softcap: number,
  ): void;
  /**
   * One llama-style decoder layer over a serving step's rows (native/kernels/batch_layer.cpp). The
   * rows come in groups (groupRows), each with its own norms (attnNorms; mlpNorms for the first
   * `decodeGroups`) and adapters (null or 14 entries, as decode_layer_f32's), sharing the weights
   * and biases. Rows of the first decodeGroups groups are decode rows (the first N): the whole layer,
   * attending through the pages (pages[pageStart[r] ..], positions 0..pos[r]); the rest only get
   * k, v. Every row's k, v go to pool row rowsAt[r], rotated by pos[r]. x [rows, D], y [N, D].
   * Each norm list is null where the layer has no such norm, else decode_layer_f32's norm of that
   * name per group (attnNorms, kNorms) or per decode group (mlpNorms, qNorms, postAttnNorms,
   * postMlpNorms); q/k norms all of one kind (each head, or the whole projection). windows: null (none)
   * or each decode group's sliding window (0: none); invFreqs: null (invFreq for every row) or each
   * group's rotary frequencies (Gemma 3's local layers); softcap: the attention logit soft-cap (0: none).
   * Table entries wholly before a row's window are not read (−1 where the pool freed them).
   * At most 64 rows (32 with any f32 matrix: the composed ops' GEMV range). The same bits as
   * BatchForward's composed ops.
   */
  batch_layer_f32(
    y: F32, x: F32, kPool: F32, vPool: F32, wq: W, wk: W, wv: W, wo: W, wgate: W, wup: W, wdown: W,
    bq: F32 | null, bk: F32 | null, bv: F32 | null, bo: F32 | null, bgate: F32 | null, bup: F32 | null, bdown: F32 | null, invFreq: F32,
    groupRows: I32, decodeGroups: number, attnNorms: F32[] | null, mlpNorms: F32[] | null, adapters: ((F32 | U16 | null)[] | null)[],
    rowsAt: I32, pos: I32, pages: I32, pageStart: I32, pageRows: number,
    D: number, H: number, Hkv: number, Dh: number, F: number, rotDim: number,
    interleaved: Flag, eps: number, plusOne: Flag, act: ActCode, parallelResidual: Flag, scale: number, qtypes: I32 | null,
    qNorms: F32[] | null, kNorms: F32[] | null, postAttnNorms: F32[] | null, postMlpNorms: F32[] | null,
    windows: I32 | null, invFreqs: F32[] | null, softcap: number,
  ): void;
  set_threads(n: number): void;
  get_threads(): number;
  /** machine probes for the benchmarks: best fp32 GFLOP/s of FMA chains, best GB/s summing `data`, on all threads */
  bench_fma_peak(seconds: number): number;
  bench_read_bw(data: Float32Array, seconds: number): number;
  /** best and active ISA level; quant: the q8_0/q4_0 dot kernel in use (avx512-vnni, avx2, scalar) */
  isa_info(): { best: string; active: string; quant: string };
  set_isa(name: 'scalar' | 'avx2' | 'avx512' | 'avx512bf16'): void;
  /** read-only (copy-on-write) mapping of a whole file; unmapped when collected or by mmap_close */
  mmap_file(path: string): ArrayBuffer;
  mmap_close(buffer: ArrayBuffer): void;
  /** a zeroed buffer of `bytes` on a 2 MB-aligned mapping advised MADV_HUGEPAGE (weights; src/tensor/huge-pages.ts) */
  alloc_huge_pages(bytes: number): ArrayBuffer;
}

const addonPath = fileURLToPath(new URL('../../build/Release/rrt.node', import.meta.url));

function loadNative(): NativeAddon | null {
  if (!existsSync(addonPath)) return null;
  // Idle OpenMP threads spin briefly (~10 µs), then sleep. Unbounded spinning steals the core
  // the working thread needs on a shared 2-core machine (measured: 20× slower training steps
  // under load); sleeping at once makes every fork/join and barrier wake a thread, ~50 µs on
  // this VM, more than a small GEMV. 1000 spins, measured: 2-thread decode 1.3–1.6× faster on
  // a quiet machine, 0.82× with another process busy on one core; training unchanged either
  // way. libgomp reads both when the addon loads it, so they are set first (the environment
  // can override either).
  process.env.OMP_WAIT_POLICY ??= 'PASSIVE';
  process.env.GOMP_SPINCOUNT ??= '1000';
  const require = createRequire(import.meta.url);
  const addon = require(addonPath) as NativeAddon;
  const threads = process.env.RRT_THREADS;
  if (threads !== undefined && threads !== '') {
    const n = Number(threads);
    if (!Number.isInteger(n) || n < 1) throw new InputError('bad_option', `RRT_THREADS must be a positive integer, got '${threads}'`);
    addon.set_threads(n);
  }
  return addon;
}

/** The C++ addon, or null when it was not built. */
export const native: NativeAddon | null = loadNative();

/** The plain TypeScript reference kernels. */
export const reference: Kernels = ref;

/** The kernels ops dispatch to: native unless RRT_KERNELS=ref or the addon is missing. */
export const kernels: Kernels = process.env.RRT_KERNELS === 'ref' || native === null ? reference : native;

/** Set the number of compute threads (also settable with RRT_THREADS). */
export function setThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`threads must be a positive integer, got ${n}`);
  native?.set_threads(n);
}

export function getThreads(): number {
  return native ? native.get_threads() : 1;
}
