// Kernel benchmark: GEMM and decode-GEMV speeds next to this machine's fp32 FMA peak and read
// bandwidth, all measured in the same run (STYLE lesson 15: speed claims are ratios).
// Usage: npm run bench:kernels -- [--threads N] [--reps R] [--json]
// Each kernel reports the best of R repetitions after one warm-up; the GEMV weights rotate over
// copies totalling ≥ 256 MiB, so no repetition reads a weight matrix still sitting in L3.
import { native, type NativeAddon } from '../src/tensor/kernels.js';

interface Probes {
  bench_fma_peak(seconds: number): number;
  bench_read_bw(bytes: number, seconds: number): number;
}

interface Options {
  threads: number;
  reps: number;
  json: boolean;
}

function parseArgs(argv: string[], defaultThreads: number): Options {
  const opts: Options = { threads: defaultThreads, reps: 7, json: false };
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
    else throw new RangeError(`unknown option '${arg}' (--threads N, --reps R, --json)`);
  }
  return opts;
}

function randomF32(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 32 - 0.5;
  }
  return out;
}

/** Best wall time in seconds of `reps` calls of fn(rep), after one warm-up call. */
function bestTime(reps: number, fn: (rep: number) => void): number {
  fn(-1);
  let best = Infinity;
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    fn(r);
    best = Math.min(best, (performance.now() - t0) / 1e3);
  }
  return best;
}

function main(): void {
  if (native === null) throw new Error('the native addon is not built: run `npm run build:native` first');
  const k = native as NativeAddon & Probes;
  const opts = parseArgs(process.argv.slice(2), k.get_threads());
  k.set_threads(opts.threads);
  const { active } = k.isa_info();

  const peak = k.bench_fma_peak(1.0);
  const readGbs = k.bench_read_bw(1 << 30, 2.0);

  // ---- GEMM 1024³ ----
  const S = 1024;
  const flops = 2 * S * S * S;
  const a = randomF32(S * S, 1), b = randomF32(S * S, 2), c = new Float32Array(S * S);
  const gemm = (ta: 0 | 1, tb: 0 | 1) => flops / bestTime(opts.reps, () => k.gemm_f32(c, a, b, S, S, S, ta, tb, 0)) / 1e9;
  const gemmNN = gemm(0, 0), gemmNT = gemm(0, 1), gemmTN = gemm(1, 0);
  const ab = new Uint16Array(S * S), bb = new Uint16Array(S * S);
  k.f32_to_bf16(ab, a, S * S);
  k.f32_to_bf16(bb, b, S * S);
  const gemmBf16 = flops / bestTime(opts.reps, () => k.gemm_bf16(c, ab, bb, S, S, S)) / 1e9;

  // ---- decode GEMV: x[1,2048] · W[8192,2048]ᵀ, W streamed from DRAM ----
  const N = 8192, K = 2048;
  const x = randomF32(K, 3), y = new Float32Array(N);
  const wF32 = Array.from({ length: 4 }, (_, i) => randomF32(N * K, 10 + i)); // 4 × 64 MiB
  const wBf16 = Array.from({ length: 8 }, (_, i) => {
    const w = new Uint16Array(N * K);
    k.f32_to_bf16(w, wF32[i % 4], N * K);
    return w;
  }); // 8 × 32 MiB
  const pick = <T>(ws: T[], rep: number): T => ws[(rep + ws.length) % ws.length];
  const gemvF32 = (N * K * 4) / bestTime(opts.reps, (r) => k.gemm_f32(y, x, pick(wF32, r), 1, N, K, 0, 1, 0)) / 1e9;
  const gemvBf16 = (N * K * 2) / bestTime(opts.reps, (r) => k.linear_bf16w(y, x, pick(wBf16, r), 1, N, K, 0)) / 1e9;

  const result = {
    threads: k.get_threads(),
    isa: active,
    peak_f32_gflops: peak,
    read_gbs: readGbs,
    gemm_f32_gflops: gemmNN,
    gemm_f32_nt_gflops: gemmNT,
    gemm_f32_tn_gflops: gemmTN,
    gemm_bf16_gflops: gemmBf16,
    gemv_f32_gbs: gemvF32,
    gemv_bf16_gbs: gemvBf16,
    gemm_f32_of_peak: gemmNN / peak,
    gemm_bf16_over_f32: gemmBf16 / gemmNN,
    gemv_f32_of_read: gemvF32 / readGbs,
    gemv_bf16_of_read: gemvBf16 / readGbs,
  };
  if (opts.json) {
    console.log(JSON.stringify(result));
    return;
  }
  const pct = (v: number) => `${(100 * v).toFixed(1)} %`;
  const rows: [string, string, string, string][] = [
    ['fp32 FMA peak (probe)', '16 chains', `${peak.toFixed(1)} GFLOP/s`, ''],
    ['read bandwidth (probe)', '1 GiB sum', `${readGbs.toFixed(1)} GB/s`, ''],
    ['gemm_f32 NN', '1024³', `${gemmNN.toFixed(1)} GFLOP/s`, `${pct(gemmNN / peak)} of peak`],
    ['gemm_f32 NT', '1024³', `${gemmNT.toFixed(1)} GFLOP/s`, `${pct(gemmNT / peak)} of peak`],
    ['gemm_f32 TN', '1024³', `${gemmTN.toFixed(1)} GFLOP/s`, `${pct(gemmTN / peak)} of peak`],
    ['gemm_bf16', '1024³', `${gemmBf16.toFixed(1)} GFLOP/s`, `${(gemmBf16 / gemmNN).toFixed(2)}× fp32`],
    ['gemv fp32 weights', '1×2048·(8192×2048)ᵀ', `${gemvF32.toFixed(1)} GB/s`, `${pct(gemvF32 / readGbs)} of read`],
    ['gemv bf16 weights', '1×2048·(8192×2048)ᵀ', `${gemvBf16.toFixed(1)} GB/s`, `${pct(gemvBf16 / readGbs)} of read`],
  ];
  console.log(`rrt kernel benchmark — ${result.threads} threads, ISA ${active}, best of ${opts.reps}`);
  const w = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => r[i].length)));
  for (const r of rows) console.log(r.map((s, i) => (i === 2 ? s.padStart(w[i]) : s.padEnd(w[i]))).join('  '));
}

main();
