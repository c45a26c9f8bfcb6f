// rrt against llama.cpp itself, on files rrt writes: looped GGUF export (llama.cpp's nanbeige
// architecture: the shared block once, run num_loops times). For each model, llama.cpp's greedy
// ids for 64 tokens from 3 prompts must equal rrt's f32 ids, and the looped file's size must be
// within 5 % of the unique parameters' bytes:
//   - stories260K converted to 2 loops (cycle, stepwise, strict);
//   - a random SmolLM-135M-shaped model converted to 15 shared layers × 2 loops;
//   - a random looped model that norms between loops (skip_loop_final_norm false).
// Then speed in one run: llama.cpp on the looped Q8_0 GGUF against the unrolled one, and rrt on
// the same model. node-llama-cpp is installed into a temp folder (never a dependency).
// Usage: npm run check:llamacpp [-- --tokens N --rounds N]
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { importLlamaCpp, llamaGreedy, LLAMA_CPP_VERSION, type Llama } from '../bench/node-llama-cpp.js';
import { llama, randomModel } from '../bench/random-model.js';
import { generateIds } from '../src/models/generate.js';
import { BUNDLED_MODEL, loadModel } from '../src/models/load.js';
import { saveModel } from '../src/models/save.js';
import { convertToRecursive } from '../src/recursive/convert.js';
import { exportGguf } from '../src/recursive/export-gguf.js';
import { setThreads } from '../src/tensor/kernels.js';

const args = process.argv.slice(2);
const num = (flag: string, d: number) => (args.includes(flag) ? Number(args[args.indexOf(flag) + 1]) : d);
const nTokens = num('--tokens', 64), rounds = num('--rounds', 3);
const log = (s: string) => process.stderr.write(`${s}\n`);
const tmp = mkdtempSync(join(tmpdir(), 'rrt-check-llamacpp-'));
const TOK = new URL('../assets/stories260K/tok512.bin', import.meta.url).pathname;
let failures = 0;

/** Unique parameter bytes of a model as the file stores them (f32: 4 bytes each). */
function uniqueBytes(path: string): number {
  const m = loadModel(path, { hugePages: false });
  const seen = new Set<object>();
  let n = 0;
  const add = (t: { size: number } | null | undefined) => {
    if (t && !seen.has(t)) {
      seen.add(t);
      n += t.size;
    }
  };
  const w = m.decoder.weights;
  add(w.embed);
  add(w.head);
  add(w.finalNorm.w);
  for (const l of w.layers) {
    add(l.attnNorm.w);
    add(l.mlpNorm.w);
    for (const p of Object.values(l.proj)) add(p.w);
  }
  return n * 4;
}

async function checkIds(lib: Llama, label: string, model: string, gguf: string, prompts: number[][]): Promise<void> {
  const rrt = loadModel(model).decoder;
  const lm = await lib.loadModel({ modelPath: gguf });
  const agree: string[] = [];
  let all = true;
  for (const p of prompts) {
    const want = [...generateIds(rrt, p, { maxTokens: nTokens, eosIds: [] })];
    const got = await llamaGreedy(lm, p, nTokens);
    const same = got.findIndex((id, i) => id !== want[i]);
    const n = same < 0 ? got.length : same;
    all &&= n === nTokens;
    agree.push(`${n}/${nTokens}`);
  }
  const bytes = uniqueBytes(model), file = statSync(gguf).size, size = lm.size;
  const sizeOk = Math.abs(size - bytes) / bytes <= 0.05;
  await lm.dispose();
  if (!all || !sizeOk) failures++;
  console.log(`${all && sizeOk ? 'ok  ' : 'FAIL'} ${label}: greedy ids equal to rrt f32 ${agree.join(', ')}; llama.cpp model size ${(size / 1e6).toFixed(2)} MB vs unique parameters ${(bytes / 1e6).toFixed(2)} MB (${((size / bytes - 1) * 100).toFixed(1)} %), file ${(file / 1e6).toFixed(2)} MB`);
}

try {
  const { getLlama } = await importLlamaCpp();
  const lib = await getLlama({ gpu: false, build: 'never' });
  const tok = loadModel(BUNDLED_MODEL).tokenizer!;
  const prompts = ['Once upon a time', 'The little dog', 'One day, Lily found'].map((t) => tok.encode(t));
  console.log(`llama.cpp: node-llama-cpp ${LLAMA_CPP_VERSION}, prebuilt CPU binaries; ${nTokens} greedy tokens from each of ${prompts.length} prompts`);

  // 1. stories260K, 2 loops, strict
  const c2 = join(tmp, 'stories-c2');
  convertToRecursive(BUNDLED_MODEL, c2, { nLoops: 2, strategy: 'cycle', init: 'stepwise' });
  exportGguf(c2, join(tmp, 'stories-c2.gguf'), { layout: 'looped' });
  await checkIds(lib, 'stories260K, 2 loops (cycle, stepwise, strict), looped GGUF', c2, join(tmp, 'stories-c2.gguf'), prompts);

  // 2. SmolLM-135M shape, 15 × 2
  log('writing a random SmolLM-135M-shaped model and its 15 × 2 conversion');
  const smol = randomModel(llama(30, 576, 9, 3, 1536, 49152, true));
  const smolDir = join(tmp, 'smollm');
  saveModel(smol.config, smol.decoder.weights, smolDir, { tokenizerFrom: TOK });
  const s15 = join(tmp, 'smollm-15x2');
  convertToRecursive(smolDir, s15, { nLoops: 2, strategy: 'cycle', init: 'stepwise' });
  exportGguf(s15, join(tmp, 'smollm-15x2.gguf'), { layout: 'looped' });
  await checkIds(lib, 'random SmolLM-135M shape, 15 shared layers × 2 loops, looped GGUF', s15, join(tmp, 'smollm-15x2.gguf'), prompts);

  // 3. a looped model that norms between loops (what pretrained looped files do)
  const normed = join(tmp, 'stories-c2-loopnorm');
  convertToRecursive(BUNDLED_MODEL, normed, { nLoops: 2, strategy: 'cycle', init: 'stepwise' });
  const cfgPath = join(normed, 'config.json');
  const cfg = JSON.parse(readFileSync(cfgPath, 'utf8'));
  cfg.recursive.loopNorm = true;
  writeFileSync(cfgPath, JSON.stringify(cfg, null, 2));
  exportGguf(normed, join(tmp, 'stories-c2-loopnorm.gguf'), { layout: 'looped' });
  await checkIds(lib, 'stories260K, 2 loops with a norm between loops (skip_loop_final_norm false)', normed, join(tmp, 'stories-c2-loopnorm.gguf'), prompts);

  // 4. speed: the same 15 × 2 model looped and unrolled in llama.cpp, and in rrt (Q8_0 / q8_0, one thread)
  exportGguf(s15, join(tmp, 'looped-q8.gguf'), { layout: 'looped', dtype: 'q8_0' });
  exportGguf(s15, join(tmp, 'unrolled-q8.gguf'), { layout: 'unrolled', dtype: 'q8_0' });
  const looped = await lib.loadModel({ modelPath: join(tmp, 'looped-q8.gguf') });
  const unrolled = await lib.loadModel({ modelPath: join(tmp, 'unrolled-q8.gguf') });
  const rrt = loadModel(s15, { dtype: 'q8_0' }).decoder;
  const prompt = prompts[0];
  const rate = async (gen: () => Promise<unknown> | unknown) => {
    const t0 = performance.now();
    await gen();
    return nTokens / ((performance.now() - t0) / 1000);
  };
  setThreads(1);
  const speeds = { looped: [] as number[], unrolled: [] as number[], rrt: [] as number[] };
  for (let r = 0; r < rounds + 1; r++) {
    const a = await rate(() => llamaGreedy(looped, prompt, nTokens));
    const b = await rate(() => llamaGreedy(unrolled, prompt, nTokens));
    const c = await rate(() => [...generateIds(rrt, prompt, { maxTokens: nTokens, eosIds: [] })]);
    if (r === 0) continue; // warm-up
    speeds.looped.push(a);
    speeds.unrolled.push(b);
    speeds.rrt.push(c);
  }
  const med = (x: number[]) => [...x].sort((p, q) => p - q)[Math.floor(x.length / 2)];
  console.log(`speed, 15 × 2 SmolLM shape, Q8_0, one thread, ${nTokens} tokens after a ${prompt.length}-token prompt (prefill included), median of ${rounds}:`);
  console.log(`  llama.cpp looped GGUF ${med(speeds.looped).toFixed(1)} tok/s (${(statSync(join(tmp, 'looped-q8.gguf')).size / 1e6).toFixed(1)} MB), unrolled GGUF ${med(speeds.unrolled).toFixed(1)} tok/s (${(statSync(join(tmp, 'unrolled-q8.gguf')).size / 1e6).toFixed(1)} MB): looped/unrolled ${(med(speeds.looped) / med(speeds.unrolled)).toFixed(2)}×`);
  console.log(`  rrt q8_0 on the same model ${med(speeds.rrt).toFixed(1)} tok/s: ${(med(speeds.rrt) / med(speeds.looped)).toFixed(2)}× llama.cpp looped`);
  await looped.dispose();
  await unrolled.dispose();
  await lib.dispose();
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
if (failures > 0) {
  console.log(`${failures} check(s) failed`);
  process.exit(1);
}
