// The README's architecture table: for each transformers fixture (fixtures/hf, made by
// transformers itself), its layers, rrt's max logit error against transformers' logits
// (relative to the largest logit), whether rrt's greedy tokens through its KV cache equal
// transformers', and — from `npm run check:llamacpp -- --json FILE` — whether llama.cpp's greedy
// ids on rrt's GGUF export agree with rrt's.
// Usage: node --import tsx scripts/architecture-table.ts [--llamacpp FILE.json]
import { existsSync, readFileSync } from 'node:fs';
import { openSafetensors } from '../src/formats/safetensors.js';
import { generateIds } from '../src/models/generate.js';
import { loadModel } from '../src/models/load.js';
import { noGrad } from '../src/tensor/autograd.js';

const HF = new URL('../fixtures/hf/', import.meta.url).pathname;
const args = process.argv.slice(2);
const llamacppFile = args.includes('--llamacpp') ? args[args.indexOf('--llamacpp') + 1] : null;

/** One fixture per architecture, with what it exercises. */
const FIXTURES: [string, string][] = [
  ['llama', 'Llama / Mistral / SmolLM'],
  ['llama3-rope', 'Llama 3.x (rope_type llama3)'],
  ['qwen2', 'Qwen2'],
  ['qwen3', 'Qwen3'],
  ['gemma', 'Gemma'],
  ['gemma2', 'Gemma 2'],
  ['gemma3', 'Gemma 3 (text)'],
  ['gemma3-mm', 'Gemma 3 multimodal (its text model)'],
  ['olmo2', 'OLMo-2'],
  ['phi3', 'Phi-3'],
  ['phi3-longrope', 'Phi-3 (longrope)'],
  ['mistral-swa', 'Mistral (sliding window 5)'],
  ['qwen2-swa', 'Qwen2 (2 of 4 layers sliding, window 6)'],
  ['phi3-swa', 'Phi-3 (sliding window 7)'],
  ['gpt2', 'GPT-2'],
  ['gpt-neox', 'GPT-NeoX / Pythia'],
];

/** check:llamacpp's rows (--json): each names its fixture as fixtures/hf/NAME; conversions carry '→'. */
interface LlamaCppRow { check: string; idsAgree: number[]; tokens: number; maxProbDiff: number; ok: boolean }
const llamacpp: LlamaCppRow[] = llamacppFile && existsSync(llamacppFile) ? JSON.parse(readFileSync(llamacppFile, 'utf8')).checks ?? [] : [];
const fixtureOf = (r: LlamaCppRow) => /fixtures\/hf\/([\w-]+)/.exec(r.check)?.[1] ?? (/^([\w-]+) → /.exec(r.check)?.[1] ?? null);
const cell = (r: LlamaCppRow | undefined) =>
  r ? `${r.idsAgree.reduce((a, b) => a + b, 0)}/${r.idsAgree.length * r.tokens}, max Δp ${r.maxProbDiff.toExponential(1)}` : '—';

console.log("| architecture | model_type | layers | max logit error vs transformers | greedy ids vs transformers | llama.cpp on rrt's GGUF: ids, max Δp | the same, 2-loop conversion |");
console.log('| --- | --- | --- | --- | --- | --- | --- |');
for (const [name, label] of FIXTURES) {
  const dir = `${HF}${name}`;
  const f = openSafetensors(`${dir}/reference.safetensors`);
  const ids = f.read('input_ids'), want = f.read('logits').data as Float32Array;
  const prompt = f.read('greedy_prompt'), greedy = f.read('greedy_output');
  f.close();
  const m = loadModel(dir);
  const [B, T] = ids.shape;
  const got = noGrad(() => m.decoder.forward(ids.data as Int32Array, B, T).logits.f32);
  let maxErr = 0, maxRef = 0;
  for (let i = 0; i < want.length; i++) {
    maxErr = Math.max(maxErr, Math.abs(got[i] - want[i]));
    maxRef = Math.max(maxRef, Math.abs(want[i]));
  }
  const [PB, P] = prompt.shape, L = greedy.shape[1];
  let same = 0;
  for (let b = 0; b < PB; b++) {
    const p = Array.from((prompt.data as Int32Array).subarray(b * P, (b + 1) * P));
    const out = [...generateIds(m.decoder, p, { maxTokens: L - P, eosIds: [] })];
    const ref = Array.from((greedy.data as Int32Array).subarray(b * L + P, (b + 1) * L));
    same += out.filter((t, i) => t === ref[i]).length;
  }
  const lc = llamacpp.find((r) => !r.check.includes('→') && fixtureOf(r) === name);
  const looped = llamacpp.find((r) => r.check.includes('→') && fixtureOf(r) === name);
  console.log(`| ${label} | ${String(m.config.hf.model_type)} | ${m.config.nLayers} | ${(maxErr / maxRef).toExponential(1)} | ${same}/${PB * (L - P)} | ${cell(lc)} | ${cell(looped)} |`);
}
