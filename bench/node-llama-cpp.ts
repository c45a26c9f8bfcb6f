// node-llama-cpp (llama.cpp's prebuilt CPU binaries) as benchmarks and checks use it: installed
// into a temp folder on first use from the npm registry, never a dependency of rrt.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

export const LLAMA_CPP_VERSION = '3.22.1';

/** greedy, and on past end-of-generation tokens as rrt's generateIds with no EOS ids goes on */
const GREEDY = { temperature: 0, yieldEogToken: true } as const;

// the slice of node-llama-cpp's API rrt uses
export interface LlamaSequence {
  evaluate(tokens: number[], opts?: { temperature?: number; yieldEogToken?: boolean }): AsyncGenerator<number, void, void>;
  /** probabilities: the softmax of the logits over the whole vocabulary, after the sampler chain (greedy leaves the logits as they are) */
  evaluateWithMetadata(tokens: number[], meta: { probabilities: true }, opts?: { temperature?: number; yieldEogToken?: boolean }): AsyncGenerator<{ token: number; probabilities: Map<number, number> }, void, void>;
}
export interface LlamaContext { getSequence(): LlamaSequence; dispose(): Promise<void> }
export interface LlamaContextOptions {
  threads: number | { ideal: number; min: number };
  contextSize: number;
  batchSize: number;
  flashAttention?: boolean;
  experimentalKvCacheKeyType?: 'F32' | 'F16';
  experimentalKvCacheValueType?: 'F32' | 'F16';
}
export interface LlamaModel { size: number; createContext(o: LlamaContextOptions): Promise<LlamaContext>; dispose(): Promise<void> }
export interface Llama { loadModel(o: { modelPath: string }): Promise<LlamaModel>; dispose(): Promise<void> }
export interface NodeLlamaCpp { getLlama(o: { gpu: false; build: 'never'; logLevel?: string }): Promise<Llama> }

/** node-llama-cpp from its temp folder, installed there first if missing (npm registry only; ~730 MB). */
export async function importLlamaCpp(): Promise<NodeLlamaCpp> {
  const dir = join(tmpdir(), 'rrt-bench-llamacpp');
  const pkg = join(dir, 'node_modules', 'node-llama-cpp');
  const version = () => (existsSync(join(pkg, 'package.json')) ? (JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')) as { version: string }).version : null);
  if (version() !== LLAMA_CPP_VERSION) {
    process.stderr.write(`installing node-llama-cpp@${LLAMA_CPP_VERSION} into ${dir} (about 730 MB, once)\n`);
    mkdirSync(dir, { recursive: true });
    execFileSync('npm', ['i', '-E', `node-llama-cpp@${LLAMA_CPP_VERSION}`, '--no-audit', '--no-fund', '--prefix', dir], { cwd: dir, stdio: ['ignore', 'inherit', 'inherit'] });
    if (version() !== LLAMA_CPP_VERSION) throw new Error(`npm did not leave node-llama-cpp@${LLAMA_CPP_VERSION} in ${pkg}`);
  }
  return (await import(pathToFileURL(join(pkg, 'dist', 'index.js')).href)) as NodeLlamaCpp;
}

/**
 * llama.cpp's arithmetic made f32 throughout: a K/V cache in F32 and no flash attention (on the
 * CPU both otherwise round K and V to f16), so that an f32 file's outputs can be compared with rrt's.
 */
export const F32_ATTENTION = { flashAttention: false, experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32' } as const;

/**
 * llama.cpp's greedy continuation of `prompt` (token ids), n tokens, with each step's next-token
 * probabilities over the vocabulary (probs[s][id]); `f32` runs with F32_ATTENTION.
 */
export async function llamaGreedyProbs(lm: LlamaModel, prompt: number[], n: number, vocab: number, f32 = true): Promise<{ ids: number[]; probs: Float64Array[] }> {
  const ctx = await lm.createContext({ threads: { ideal: 1, min: 1 }, contextSize: prompt.length + n + 16, batchSize: prompt.length, ...(f32 ? F32_ATTENTION : {}) });
  try {
    const ids: number[] = [], probs: Float64Array[] = [];
    for await (const o of ctx.getSequence().evaluateWithMetadata(prompt, { probabilities: true }, GREEDY)) {
      const p = new Float64Array(vocab);
      for (const [id, v] of o.probabilities) p[id] = v;
      ids.push(o.token);
      probs.push(p);
      if (ids.length === n) break;
    }
    return { ids, probs };
  } finally {
    await ctx.dispose();
  }
}

/** llama.cpp's greedy continuation of `prompt` (token ids), n tokens. */
export async function llamaGreedy(lm: LlamaModel, prompt: number[], n: number, threads = 1): Promise<number[]> {
  const ctx = await lm.createContext({ threads: { ideal: threads, min: threads }, contextSize: prompt.length + n + 16, batchSize: prompt.length });
  try {
    const ids: number[] = [];
    for await (const id of ctx.getSequence().evaluate(prompt, GREEDY)) {
      ids.push(id);
      if (ids.length === n) break;
    }
    return ids;
  } finally {
    await ctx.dispose();
  }
}
