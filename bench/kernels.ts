// Kernel benchmark: GEMM and decode-GEMV speeds next to this machine's fp32 FMA peak and read
// bandwidth, all measured in the same run (speed claims are ratios).
// Usage: npm run bench:kernels -- [--threads N] [--reps R] [--isa scalar|avx2|avx512|avx512bf16] [--json]
// The run is R rounds; each round runs the FMA probe and every GEMM once, then alternates
// read-bandwidth passes with GEMV samples, so probes and kernels sample the same moments of a
// shared machine; each figure is the best over the rounds. A GEMV sample streams 1 GiB of weights,
// the probe's pass size, rotating over copies totalling 256 MiB, so no call finds its weights in L3.
import { native, type NativeAddon } from '../src/tensor/kernels.js';
import { QTYPE, packedBytes } from '../src/tensor/ref/quant.js';

type Isa = 'scalar' | 'avx2' | 'avx512' | 'avx512bf16';
const ISAS: readonly Isa[] = ['scalar', 'avx2', 'avx512', 'avx512bf16'];

interface Options {
  threads: number;
  reps: number;
  json: boolean;
  isa?: Isa;
}

function parseArgs(argv: string[], defaultThreads: number): Options {
  const opts: Options = { threads: defaultThreads, reps: 10, json: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = (): number => {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < 1) throw new RangeError(`${arg} needs a positive integer, got '${argv[i]}'`);
      return v;
    };
    if (arg === '--json') opts.json = true;
    else if (arg === '--threads') opts.threads = value();
    else if (arg === '--reps') opts.reps = value();
    else if (arg === '--isa') {
      const isa = argv[++i] as Isa;
      if (!ISAS.includes(isa)) throw new RangeError(`--isa needs one of ${ISAS.join(', ')}, got '${isa}'`);
      opts.isa = isa;
    } else throw new RangeError(`unknown option '${arg}' (--threads N, --reps R, --isa NAME, --json)`);
  }
  return opts;
}

/** Uniform values in [-0.5, 0.5) from a 32-bit LCG: cheap, and no two pages alike. */
function randomF32(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 32 - 0.5;
  }
  return out;
}

/** Seconds taken by fn(). */
function timed(fn: () => void): number {
  const t0 = performance.now();
  fn();
  return (performance.now() - t0) / 1e3;
}

function main(): void {
  if (native === null) throw new Error('the native addon is not built: run `npm run build:native` first');
  const k = native as NativeAddon;
  const opts = parseArgs(process.argv.slice(2), k.get_threads());
  k.set_threads(opts.threads);
  if (opts.isa) k.set_isa(opts.isa);
  const { active } = k.isa_info();

  // GEMM 1024³ operands
  const S = 1024;
  const a = randomF32(S * S, 1), b = randomF32(S * S, 2), c = new Float32Array(S * S);
  const ab = new Uint16Array(S * S), bb = new Uint16Array(S * S);
  k.f32_to_bf16(ab, a, S * S);
  k.f32_to_bf16(bb, b, S * S);

  // decode GEMV: x[1,2048] · W[8192,2048]ᵀ; 4 fp32 copies of 64 MiB, 8 bf16 copies of 32 MiB
  const N = 8192, K = 2048;
  const x = randomF32(K, 3), y = new Float32Array(N);
  const wF32 = Array.from({ length: 4 }, (_, i) => randomF32(N * K, 10 + i));
  const wBf16 = Array.from({ length: 8 }, (_, i) => {
    const w = new Uint16Array(N * K);
    k.f32_to_bf16(w, wF32[i % 4], N * K);
    if (i >= 4) w.reverse(); // a different matrix, not a second copy of the same bytes
    return w;
  });
  // packed q8_0 / q4_0 copies of the bf16 ones' values (8 each: 17 and 9 MiB)
  const quantized = (qtype: number) => wBf16.map((_, i) => {
    const w = new Uint8Array(packedBytes(qtype, N, K));
    k.quantize_q(w, wF32[i % 4], N, K, qtype);
    if (i >= 4) w.reverse(); // other bytes, not a copy (the values are garbage, the timing is not)
    return w;
  });
  const wQ8 = quantized(QTYPE.q8_0), wQ4 = quantized(QTYPE.q4_0);
  // small-M: 32 rows through SmolLM-135M's gate projection (1536 × 576), the serving engine's shape
  const SM = { M: 32, N: 1536, K: 576 };
  const smA = randomF32(SM.M * SM.K, 5), smC = new Float32Array(SM.M * SM.N), smW = randomF32(SM.N * SM.K, 6);
  const smBf16 = new Uint16Array(SM.N * SM.K);
  k.f32_to_bf16(smBf16, smW, SM.N * SM.K);
  const smQ = (qtype: number) => {
    const w = new Uint8Array(packedBytes(qtype, SM.N, SM.K));
    k.quantize_q(w, smW, SM.N, SM.K, qtype);
    return w;
  };
  const smQ8 = smQ(QTYPE.q8_0), smQ4 = smQ(QTYPE.q4_0);
  const smallM = {
    f32: () => k.gemm_f32(smC, smA, smW, SM.M, SM.N, SM.K, 0, 1, 0),
    bf16: () => k.linear_bf16w(smC, smA, smBf16, SM.M, SM.N, SM.K, 0),
    q8_0: () => k.linear_q(smC, smA, smQ8, SM.M, SM.N, SM.K, QTYPE.q8_0, 0),
    q4_0: () => k.linear_q(smC, smA, smQ4, SM.M, SM.N, SM.K, QTYPE.q4_0, 0),
  };
  const probeData = randomF32(1 << 28, 99); // 1 GiB for the read-bandwidth probe

  const best = { peak: 0, read: 0, nn: Infinity, nt: Infinity, tn: Infinity, bf16: Infinity, gemvF32: Infinity, gemvBf16: Infinity, gemvQ8: Infinity, gemvQ4: Infinity };
  const bestSmall: Record<keyof typeof smallM, number> = { f32: Infinity, bf16: Infinity, q8_0: Infinity, q4_0: Infinity };
  for (let round = -1; round < opts.reps; round++) { // round −1 warms everything up and is not counted
    const peak = k.bench_fma_peak(0.1);
    const nn = timed(() => k.gemm_f32(c, a, b, S, S, S, 0, 0, 0));
    const nt = timed(() => k.gemm_f32(c, a, b, S, S, S, 0, 1, 0));
    const tn = timed(() => k.gemm_f32(c, a, b, S, S, S, 1, 0, 0));
    const bf16 = timed(() => k.gemm_bf16(c, ab, bb, S, S, S));
    const small = Object.fromEntries(Object.entries(smallM).map(([name, fn]) => [name, timed(() => { for (let i = 0; i < 8; i++) fn(); }) / 8]));
    // A GEMV sample is 1 GiB of weights (16 or 32 consecutive decode calls), like one probe pass
    // (seconds ≈ 0 runs exactly one), and each is taken as often, interleaved: same window length,
    // same number of tries, same moments.
    let read = 0, gemvF32 = Infinity, gemvBf16 = Infinity, gemvQ8 = Infinity, gemvQ4 = Infinity;
    for (let sample = 0; sample < 3; sample++) {
      read = Math.max(read, k.bench_read_bw(probeData, 1e-3));
      gemvF32 = Math.min(gemvF32, timed(() => {
        for (let i = 0; i < 16; i++) k.gemm_f32(y, x, wF32[i % 4], 1, N, K, 0, 1, 0);
      }) / 16);
      gemvBf16 = Math.min(gemvBf16, timed(() => {
        for (let i = 0; i < 32; i++) k.linear_bf16w(y, x, wBf16[i % 8], 1, N, K, 0);
      }) / 32);
      gemvQ8 = Math.min(gemvQ8, timed(() => {
        for (let i = 0; i < 32; i++) k.linear_q(y, x, wQ8[i % 8], 1, N, K, QTYPE.q8_0, 0);
      }) / 32);
      gemvQ4 = Math.min(gemvQ4, timed(() => {
        for (let i = 0; i < 64; i++) k.linear_q(y, x, wQ4[i % 8], 1, N, K, QTYPE.q4_0, 0);
      }) / 64);
    }
    if (round < 0) continue;
    best.peak = Math.max(best.peak, peak);
    best.read = Math.max(best.read, read);
    best.nn = Math.min(best.nn, nn);
    best.nt = Math.min(best.nt, nt);
    best.tn = Math.min(best.tn, tn);
    best.bf16 = Math.min(best.bf16, bf16);
    best.gemvF32 = Math.min(best.gemvF32, gemvF32);
    best.gemvBf16 = Math.min(best.gemvBf16, gemvBf16);
    best.gemvQ8 = Math.min(best.gemvQ8, gemvQ8);
    best.gemvQ4 = Math.min(best.gemvQ4, gemvQ4);
    for (const name of Object.keys(bestSmall) as (keyof typeof smallM)[]) bestSmall[name] = Math.min(bestSmall[name], small[name]);
  }

  const flops = 2 * S * S * S;
  const gf = (t: number) => flops / t / 1e9;
  const peak = best.peak, read = best.read;
  const gemmNN = gf(best.nn), gemmNT = gf(best.nt), gemmTN = gf(best.tn), gemmBf16 = gf(best.bf16);
  const gemvF32 = (N * K * 4) / best.gemvF32 / 1e9, gemvBf16 = (N * K * 2) / best.gemvBf16 / 1e9;
  const gemvQ8 = packedBytes(QTYPE.q8_0, N, K) / best.gemvQ8 / 1e9, gemvQ4 = packedBytes(QTYPE.q4_0, N, K) / best.gemvQ4 / 1e9;
  const smallGf = Object.fromEntries(Object.entries(bestSmall).map(([name, t]) => [name, (2 * SM.M * SM.N * SM.K) / t / 1e9])) as Record<keyof typeof smallM, number>;
  const result = {
    threads: k.get_threads(),
    isa: active,
    rounds: opts.reps,
    peak_f32_gflops: peak,
    read_gbs: read,
    gemm_f32_gflops: gemmNN,
    gemm_f32_nt_gflops: gemmNT,
    gemm_f32_tn_gflops: gemmTN,
    gemm_bf16_gflops: gemmBf16,
    gemv_f32_gbs: gemvF32,
    gemv_bf16_gbs: gemvBf16,
    gemv_q8_0_gbs: gemvQ8,
    gemv_q4_0_gbs: gemvQ4,
    /** 32 rows × SmolLM's gate projection; multiply-adds counted as 2 ops whatever the dtype */
    small_m32_gops: smallGf,
    gemm_f32_of_peak: gemmNN / peak,
    gemm_bf16_over_f32: gemmBf16 / gemmNN,
    gemv_f32_of_read: gemvF32 / read,
    gemv_bf16_of_read: gemvBf16 / read,
    gemv_q8_0_of_read: gemvQ8 / read,
    gemv_q4_0_of_read: gemvQ4 / read,
    small_m32_of_peak: Object.fromEntries(Object.entries(smallGf).map(([name, g]) => [name, g / peak])),
  };
  if (opts.json) {
    console.log(JSON.stringify(result));
    return;
  }
  const pct = (v: number) => `${(100 * v).toFixed(1)} %`;
  const rows: [string, string, string, string][] = [
    ['fp32 FMA peak (probe)', 'independent FMAs', `${peak.toFixed(1)} GFLOP/s`, ''],
    ['read bandwidth (probe)', 'sum of 1 GiB', `${read.toFixed(1)} GB/s`, ''],
    ['gemm_f32 NN', '1024³', `${gemmNN.toFixed(1)} GFLOP/s`, `${pct(gemmNN / peak)} of peak`],
    ['gemm_f32 NT', '1024³', `${gemmNT.toFixed(1)} GFLOP/s`, `${pct(gemmNT / peak)} of peak`],
    ['gemm_f32 TN', '1024³', `${gemmTN.toFixed(1)} GFLOP/s`, `${pct(gemmTN / peak)} of peak`],
    ['gemm_bf16', '1024³', `${gemmBf16.toFixed(1)} GFLOP/s`, `${(gemmBf16 / gemmNN).toFixed(2)}× fp32 NN`],
    ['gemv, fp32 weights', '1×2048 · (8192×2048)ᵀ', `${gemvF32.toFixed(1)} GB/s`, `${pct(gemvF32 / read)} of read`],
    ['gemv, bf16 weights', '1×2048 · (8192×2048)ᵀ', `${gemvBf16.toFixed(1)} GB/s`, `${pct(gemvBf16 / read)} of read`],
    ['gemv, q8_0 weights', '1×2048 · (8192×2048)ᵀ', `${gemvQ8.toFixed(1)} GB/s`, `${pct(gemvQ8 / read)} of read`],
    ['gemv, q4_0 weights', '1×2048 · (8192×2048)ᵀ', `${gemvQ4.toFixed(1)} GB/s`, `${pct(gemvQ4 / read)} of read`],
    ...(Object.keys(smallGf) as (keyof typeof smallM)[]).map((name): [string, string, string, string] => [
      `32 rows, ${name} weights`, '32×576 · (1536×576)ᵀ', `${smallGf[name].toFixed(1)} GOP/s`, `${pct(smallGf[name] / peak)} of fp32 peak`,
    ]),
  ];
  console.log(`rrt kernel benchmark — ${result.threads} threads, ISA ${active}, best of ${opts.reps} rounds`);
  const w = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => r[i].length)));
  for (const r of rows) console.log(r.map((s, i) => (i === 2 ? s.padStart(w[i]) : s.padEnd(w[i]))).join('  ').trimEnd());
}

main();
