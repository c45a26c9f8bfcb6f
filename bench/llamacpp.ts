// rrt against llama.cpp in one process: single-stream greedy decode of a random-weight model
// shaped like SmolLM-135M, rrt with bf16 weights and llama.cpp (node-llama-cpp 3.21.1, CPU) on
// the same weights exported by rrt's own GGUF writer as F16, alternating rrt and llama.cpp per
// round so machine noise hits both. Decode rate = tokens after the first / time after the first
// (prefill excluded). node-llama-cpp is installed into a temp folder, never as a dependency.
// Usage: npm run bench:llamacpp [-- --tokens N] [--prompt N] [--rounds N] [--json]
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { generateIds } from '../src/models/generate.js';
import { saveModel } from '../src/models/save.js';
import { exportGguf } from '../src/recursive/export-gguf.js';
import { setThreads } from '../src/tensor/kernels.js';
import { llama, randomModel, toBf16 } from './random-model.js';

const LLAMA_CPP_VERSION = '3.21.1';
const THREADS = [1, 2];

const args = process.argv.slice(2);
const num = (flag: string, fallback: number, min: number): number => {
  const i = args.indexOf(flag);
  if (i < 0) return fallback;
  const v = Number(args[i + 1]);
  if (!Number.isInteger(v) || v < min) throw new RangeError(`${flag} must be an integer ≥ ${min}, got ${args[i + 1]}`);
  return v;
};
const nTokens = num('--tokens', 64, 2);
const promptLen = num('--prompt', 64, 1);
const rounds = num('--rounds', 5, 1);
const json = args.includes('--json');
const log = (s: string) => process.stderr.write(`${s}\n`);

// the slice of node-llama-cpp's API this benchmark uses
interface LlamaSequence { evaluate(tokens: number[], opts?: { temperature?: number }): AsyncGenerator<number, void, void> }
interface LlamaContext { getSequence(): LlamaSequence; dispose(): Promise<void> }
interface LlamaModel { createContext(o: { threads: number | { ideal: number; min: number }; contextSize: number; batchSize: number }): Promise<LlamaContext>; dispose(): Promise<void> }
interface Llama { loadModel(o: { modelPath: string }): Promise<LlamaModel>; dispose(): Promise<void> }
interface NodeLlamaCpp { getLlama(o: { gpu: false; build: 'never' }): Promise<Llama> }

/** node-llama-cpp from its temp folder, installed there first if missing (npm registry only; ~730 MB). */
async function importLlamaCpp(): Promise<NodeLlamaCpp> {
  const dir = join(tmpdir(), 'rrt-bench-llamacpp');
  const pkg = join(dir, 'node_modules', 'node-llama-cpp');
  const version = () => (existsSync(join(pkg, 'package.json')) ? (JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')) as { version: string }).version : null);
  if (version() !== LLAMA_CPP_VERSION) {
    log(`installing node-llama-cpp@${LLAMA_CPP_VERSION} into ${dir} (about 730 MB, once)`);
    mkdirSync(dir, { recursive: true });
    execFileSync('npm', ['i', '-E', `node-llama-cpp@${LLAMA_CPP_VERSION}`, '--no-audit', '--no-fund', '--prefix', dir], { cwd: dir, stdio: ['ignore', 'inherit', 'inherit'] });
    if (version() !== LLAMA_CPP_VERSION) throw new Error(`npm did not leave node-llama-cpp@${LLAMA_CPP_VERSION} in ${pkg}`);
  }
  return (await import(pathToFileURL(join(pkg, 'dist', 'index.js')).href)) as NodeLlamaCpp;
}

/** Decode tokens/s from the first token to the last (prefill excluded), and the ids. */
async function timeDecode(gen: AsyncIterable<number> | Iterable<number>): Promise<{ tokS: number; ids: number[] }> {
  const ids: number[] = [];
  let t0 = 0;
  for await (const id of gen) {
    ids.push(id);
    if (ids.length === 1) t0 = performance.now();
    if (ids.length === nTokens + 1) break;
  }
  if (ids.length !== nTokens + 1) throw new Error(`decode stopped after ${ids.length} of ${nTokens + 1} tokens`);
  return { tokS: nTokens / ((performance.now() - t0) / 1000), ids };
}

const hf = llama(30, 576, 9, 3, 1536, 49152, true);
const tmp = mkdtempSync(join(tmpdir(), 'rrt-bench-llamacpp-model-'));
// the temp model files (~800 MB at the peak) go on Ctrl-C too
process.once('SIGINT', () => {
  rmSync(tmp, { recursive: true, force: true });
  process.exit(130);
});
try {
  const { getLlama } = await importLlamaCpp();
  const model = randomModel(hf);
  // the model as `rrt export` writes it: an HF checkpoint (with the bundled llama2.c tokenizer,
  // padded to the vocabulary by the exporter) turned into a GGUF file with F16 matrices
  log('writing the random model as an rrt checkpoint and exporting it to GGUF F16');
  const hfDir = join(tmp, 'smollm-135m-shape');
  saveModel(model.config, model.decoder.weights, hfDir, { tokenizerFrom: new URL('../assets/stories260K/tok512.bin', import.meta.url).pathname });
  const gguf = join(tmp, 'smollm-135m-shape-f16.gguf');
  const exported = exportGguf(hfDir, gguf, { dtype: 'f16' });
  for (const w of exported.warnings) log(`export warning: ${w}`);
  rmSync(hfDir, { recursive: true });
  const bf16 = toBf16(model.decoder);

  const lib = await getLlama({ gpu: false, build: 'never' });
  const lm = await lib.loadModel({ modelPath: gguf });
  const prompt = Array.from({ length: promptLen }, (_, i) => (i * 7919) % 49152);
  const rrtRun = (threads: number) => {
    setThreads(threads);
    return timeDecode(generateIds(bf16, prompt, { maxTokens: nTokens + 1, eosIds: [] }));
  };
  const llamaRun = async (threads: number) => {
    const ctx = await lm.createContext({ threads: { ideal: threads, min: threads }, contextSize: promptLen + nTokens + 16, batchSize: promptLen });
    try {
      return await timeDecode(ctx.getSequence().evaluate(prompt, { temperature: 0 }));
    } finally {
      await ctx.dispose();
    }
  };

  // warm-up (first-touch of weights, thread pools), untimed
  for (const t of THREADS) {
    setThreads(t);
    [...generateIds(bf16, prompt, { maxTokens: 4, eosIds: [] })];
    await llamaRun(t);
  }
  // correctness of the export: rrt with the f32 weights the GGUF was written from, untimed
  const f32Ids = [...generateIds(model.decoder, prompt, { maxTokens: nTokens + 1, eosIds: [] })];
  const samples: Record<string, { rrt: number[]; llama: number[] }> = {};
  const agree = { bf16: 0, f32: 0 };
  const prefix = (a: number[], b: number[]) => {
    const i = a.findIndex((id, j) => id !== b[j]);
    return i < 0 ? a.length : i;
  };
  for (let r = 0; r < rounds; r++) {
    for (const t of THREADS) {
      const s = (samples[`${t}`] ??= { rrt: [], llama: [] });
      const a = await rrtRun(t);
      const b = await llamaRun(t);
      s.rrt.push(a.tokS);
      s.llama.push(b.tokS);
      agree.bf16 = prefix(a.ids, b.ids);
      agree.f32 = prefix(f32Ids, b.ids);
      log(`round ${r + 1}/${rounds}, ${t} thread${t > 1 ? 's' : ''}: rrt bf16 ${a.tokS.toFixed(1)} tok/s, llama.cpp f16 ${b.tokS.toFixed(1)} tok/s`);
    }
  }
  await lm.dispose();
  await lib.dispose();

  const median = (xs: number[]) => {
    const s = [...xs].sort((p, q) => p - q);
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  };
  const rows = THREADS.map((t) => {
    const s = samples[`${t}`];
    // best-of next to the median: on a shared machine noise only ever slows a run down
    const best = { rrt: Math.max(...s.rrt), llama: Math.max(...s.llama) };
    return {
      threads: t, rrt_bf16_tok_s: median(s.rrt), llama_cpp_f16_tok_s: median(s.llama), ratio: median(s.rrt) / median(s.llama),
      rrt_best_tok_s: best.rrt, llama_cpp_best_tok_s: best.llama, ratio_best: best.rrt / best.llama, rrt_samples: s.rrt, llama_cpp_samples: s.llama,
    };
  });
  const report = {
    model: 'random weights, SmolLM-135M shape (30 layers, d 576, 9/3 heads, FFN 1536, vocab 49152, tied)',
    llama_cpp: `node-llama-cpp ${LLAMA_CPP_VERSION}, CPU, GGUF F16 written by rrt export`,
    prompt_tokens: promptLen, decode_tokens: nTokens, rounds,
    /** leading greedy ids equal to llama.cpp's (last round): rrt f32 (the weights exported) checks the GGUF; bf16 rounding may diverge sooner */
    greedy_prefix_agreeing: { rrt_f32: agree.f32, rrt_bf16: agree.bf16, of: nTokens + 1 },
    rows,
  };
  if (json) console.log(JSON.stringify(report));
  else {
    console.log(`${report.model}\nrrt bf16 vs ${report.llama_cpp}; ${promptLen}-token prompt, decode tok/s over ${nTokens} tokens after the first; ${rounds} alternating rounds`);
    console.log('threads' + 'rrt bf16'.padStart(10) + 'llama.cpp f16'.padStart(15) + 'rrt/llama'.padStart(11) + '   (median)' + 'rrt bf16'.padStart(10) + 'llama.cpp f16'.padStart(15) + 'rrt/llama'.padStart(11) + '   (best)');
    for (const r of rows) {
      const f = (x: number, w: number, d = 1) => x.toFixed(d).padStart(w);
      console.log(String(r.threads).padEnd(7) + f(r.rrt_bf16_tok_s, 10) + f(r.llama_cpp_f16_tok_s, 15) + f(r.ratio, 11, 2) + ' '.repeat(11) + f(r.rrt_best_tok_s, 10) + f(r.llama_cpp_best_tok_s, 15) + f(r.ratio_best, 11, 2));
    }
    for (const r of rows) console.log(`samples, ${r.threads} thread${r.threads > 1 ? 's' : ''}: rrt ${r.rrt_samples.map((x) => x.toFixed(1)).join(' ')} | llama.cpp ${r.llama_cpp_samples.map((x) => x.toFixed(1)).join(' ')}`);
    console.log(`greedy ids equal to llama.cpp's: the first ${agree.f32} of ${nTokens + 1} with rrt f32 (the exported weights), ${agree.bf16} with rrt bf16 (rounded differently from f16)`);
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
