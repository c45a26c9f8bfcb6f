// Conversion of a pretrained model into a (Relaxed) Recursive Transformer (RRT §2):
// plan the sharing, initialise each shared slot from its source layers (copy or mean), and give
// every unrolled depth LoRA factors from the truncated SVD of what sharing lost, R = W_ℓ − W'_slot.
// Streams tensor by tensor: one slot matrix and one source matrix in memory at a time.
import { copyFileSync, existsSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { InputError } from '../errors.js';
import { OutputDir } from '../formats/output-dir.js';
import { SafetensorsWriter, type TensorPlan } from '../formats/safetensors.js';
import type { TensorSource } from '../formats/tensor-source.js';
import type { ModelConfig, ProjName } from '../models/config.js';
import { openModelSource } from '../models/load.js';
import { countParameters, type ParameterCount } from '../models/params.js';
import { profileForArch, type Profile, type WeightEntry } from '../models/profiles/index.js';
import { layerSuffix, loraNames, type RecursiveSpec, tensorNameForDepth } from '../models/recursive-spec.js';
import { expectedShape, isNormOrBias } from '../models/weights.js';
import { TOKENIZER_FILES } from '../models/save.js';
import { type InitMethod, planSharing, type SharingPlan, type Strategy } from './sharing.js';
import { loraFactors, type TruncatedOptions } from './svd.js';
import { transpose2d } from '../tensor/transpose.js';
import { mulberry32 } from '../tensor/random.js';

export interface ConvertOptions {
  /** loops over the shared block (the paper's B) */
  nLoops: number;
  /** @default 'cycle' */
  strategy?: Strategy;
  /** @default 'stepwise' */
  init?: InitMethod;
  seed?: number;
  /** LoRA rank for every projection (0: strictly recursive). @default 0 */
  loraRank?: number;
  /** rank for the attention projections (overrides loraRank) */
  loraRankAttn?: number;
  /** rank for the MLP projections (overrides loraRank) */
  loraRankMlp?: number;
  /** @default 'svd' */
  loraInit?: 'svd' | 'zero';
  /** projections that get adapters, by rrt name (q, k, v, qkv, o, gate, up, gateUp, down) or HF module name; @default all */
  loraModules?: string[];
  /** keep one copy of every norm and bias per unrolled depth instead of sharing them */
  untieNorms?: boolean;
  /** replace an existing destination */
  force?: boolean;
  /** tokenizer of a llama2.c source */
  tokenizer?: string;
  svd?: TruncatedOptions;
  onProgress?: (done: number, total: number, label: string) => void;
}

export interface ConvertSummary {
  dst: string;
  plan: SharingPlan;
  before: ParameterCount;
  after: RecursiveParameterCount;
  ranks: Partial<Record<ProjName, number>>;
  meanRelResidual: Partial<Record<ProjName, number>>;
  seconds: number;
}

export interface RecursiveParameterCount {
  embedding: number;
  /** every stored non-embedding parameter: shared block, unique layers, per-depth norms, adapters, final norm */
  uniqueNonEmbedding: number;
  adapters: number;
  /** uniqueNonEmbedding / the source's non-embedding parameters */
  ratioToSource: number;
}

const ATTN: readonly ProjName[] = ['q', 'k', 'v', 'qkv', 'o'];


function checkRank(name: string, r: number | undefined): void {
  if (r !== undefined && !(Number.isInteger(r) && r >= 0)) throw new InputError('bad_option', `${name} must be a non-negative integer, got ${r}`);
}

/** Projections that get adapters, validated against the architecture's modules. */
function chooseModules(profile: Profile, requested: string[] | undefined): Set<ProjName> {
  const all = Object.keys(profile.modules) as ProjName[];
  if (!requested) return new Set(all);
  const out = new Set<ProjName>();
  for (const name of requested) {
    const p = all.find((q) => q === name || profile.modules[q] === name);
    if (!p) {
      const valid = all.map((q) => `${q} (${profile.modules[q]})`).join(', ');
      throw new InputError('bad_option', `unknown projection "${name}" for ${profile.arch}; valid: ${valid}`);
    }
    out.add(p);
  }
  return out;
}

/** Reads layer i's tensor `key` in the canonical orientation ([out, in] for matrices). */
function readCanonical(source: TensorSource, e: WeightEntry): Float32Array {
  const data = source.readF32(e.hf);
  if (!e.transpose) return data;
  const [rows, cols] = source.info(e.hf).shape;
  return transpose2d(data, rows, cols);
}

function uniformInit(n: number, bound: number, seed: number): Float32Array {
  const next = mulberry32(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (2 * next() - 1) * bound;
  return out;
}

export function layerCountKey(cfg: ModelConfig): string {
  return 'n_layer' in cfg.hf ? 'n_layer' : 'num_hidden_layers';
}

/**
 * Converts `src` into a Relaxed Recursive Transformer checkpoint directory at `dst`.
 * @example
 * convertToRecursive('models/TinyLlama', 'out/tinyllama-rrt', { nLoops: 2, init: 'average', loraRank: 64 });
 */
export function convertToRecursive(src: string, dst: string, opts: ConvertOptions): ConvertSummary {
  const t0 = performance.now();
  for (const k of ['loraRank', 'loraRankAttn', 'loraRankMlp'] as const) checkRank(k, opts[k]);
  if (opts.loraInit !== undefined && opts.loraInit !== 'svd' && opts.loraInit !== 'zero') throw new InputError('bad_option', `LoRA init must be svd or zero, got "${opts.loraInit}"`);
  const { format, config: cfg, source, tokenizerPath } = openModelSource(src, { tokenizer: opts.tokenizer });
  let out: OutputDir | null = null;
  let writer: SafetensorsWriter | null = null;
  try {
    if (cfg.recursive)
      throw new InputError('bad_option', `${src} is already a recursive model (${cfg.recursive.plan.strategy}, ${cfg.recursive.plan.nLoops} loops); convert its source model instead, or export it to a plain checkpoint first`);
    const profile = profileForArch(cfg.arch);
    const plan = planSharing({ sourceLayers: cfg.nLayers, nLoops: opts.nLoops, strategy: opts.strategy, init: opts.init, seed: opts.seed });
    const depth = plan.unrolled.length;
    const untie = opts.untieNorms ?? false;
    const loraInit = opts.loraInit ?? 'svd';
    const modules = chooseModules(profile, opts.loraModules);
    const ranks: Partial<Record<ProjName, number>> = {};
    for (const e of profile.layer(cfg, 0)) {
      const [p, part] = e.key.split('.') as [ProjName, string];
      if (part !== 'w' || !modules.has(p)) continue;
      const asked = (ATTN.includes(p) ? opts.loraRankAttn : opts.loraRankMlp) ?? opts.loraRank ?? 0;
      const [dOut, dIn] = expectedShape(cfg, e.key);
      if (asked > 0) ranks[p] = Math.min(asked, dOut, dIn);
    }
    const hasLora = Object.keys(ranks).length > 0;
    out = new OutputDir(dst, opts.force);

    // ---- the tensor plan ----
    const planned: TensorPlan[] = [];
    const storedShape = (e: WeightEntry, key = e.key) => (e.transpose ? [...expectedShape(cfg, key)].reverse() : expectedShape(cfg, key));
    for (const e of profile.globals(cfg)) planned.push({ name: e.hf, dtype: 'f32', shape: source.info(e.hf).shape });
    plan.slotSources.forEach((_, s) => {
      for (const e of profile.layer(cfg, s)) if (!untie || !isNormOrBias(e.key)) planned.push({ name: e.hf, dtype: 'f32', shape: storedShape(e) });
    });
    plan.unrolled.forEach((u, d) => {
      for (const e of profile.layer(cfg, u.slot)) {
        const [p, part] = e.key.split('.') as [ProjName, string];
        if (untie && isNormOrBias(e.key)) planned.push({ name: tensorNameForDepth(d, layerSuffix(e.hf)), dtype: 'f32', shape: expectedShape(cfg, e.key) });
        if (part === 'w' && ranks[p] && !u.unique) {
          const [dOut, dIn] = expectedShape(cfg, e.key);
          const n = loraNames(d, e.hf);
          planned.push({ name: n.a, dtype: 'f32', shape: [ranks[p]!, dIn] }, { name: n.b, dtype: 'f32', shape: [dOut, ranks[p]!] });
        }
      }
    });
    writer = new SafetensorsWriter(join(out.tmp, 'model.safetensors'), planned, { format: 'pt', made_by: 'rrt convert' });
    let done = 0;
    const step = (label: string) => opts.onProgress?.(++done, planned.length, label);
    const w = writer;

    // ---- embeddings, final norm, head: copied ----
    for (const e of profile.globals(cfg)) {
      w.write(e.hf, source.readF32(e.hf));
      step(e.hf);
    }

    // ---- shared slots, each followed by the adapters of the depths that use it ----
    const residualSums: Partial<Record<ProjName, { sum: number; n: number }>> = {};
    const layerEntry = (i: number, key: string) => profile.layer(cfg, i).find((x) => x.key === key)!;
    plan.slotSources.forEach((sources, s) => {
      for (const e of profile.layer(cfg, s)) {
        if (untie && isNormOrBias(e.key)) continue;
        // W'_slot: the source layer, or the mean of several (average init)
        const slot = readCanonical(source, layerEntry(sources[0], e.key));
        for (const i of sources.slice(1)) {
          const x = readCanonical(source, layerEntry(i, e.key));
          for (let j = 0; j < slot.length; j++) slot[j] += x[j];
        }
        if (sources.length > 1) for (let j = 0; j < slot.length; j++) slot[j] /= sources.length;
        const [dOut, dIn] = expectedShape(cfg, e.key);
        w.write(e.hf, e.transpose ? transpose2d(slot, dOut, dIn) : slot);
        step(e.hf);

        const [p, part] = e.key.split('.') as [ProjName, string];
        const rank = ranks[p];
        if (part !== 'w' || !rank) continue;
        plan.unrolled.forEach((u, d) => {
          if (u.slot !== s || u.unique) return;
          const names = loraNames(d, e.hf);
          let A: Float32Array, B: Float32Array, rel: number;
          if (loraInit === 'zero') {
            A = uniformInit(rank * dIn, 1 / Math.sqrt(dIn), (opts.seed ?? 0) * 7919 + d * 131 + rank);
            B = new Float32Array(dOut * rank);
            rel = 1;
          } else {
            // R_ℓ = W_ℓ − W'_slot; B = U_r·Σ_r, A = V_rᵀ
            const R = readCanonical(source, layerEntry(u.sourceLayer, e.key));
            for (let j = 0; j < R.length; j++) R[j] -= slot[j];
            ({ A, B, relResidual: rel } = loraFactors(R, dOut, dIn, rank, opts.svd));
          }
          const acc = (residualSums[p] ??= { sum: 0, n: 0 });
          acc.sum += rel;
          acc.n++;
          w.write(names.a, A);
          step(names.a);
          w.write(names.b, B);
          step(names.b);
        });
      }
    });

    // ---- per-depth norms and biases (--untie-norms): copies of the layer each depth replaces ----
    if (untie)
      plan.unrolled.forEach((u, d) => {
        for (const e of profile.layer(cfg, u.slot)) {
          if (!isNormOrBias(e.key)) continue;
          const name = tensorNameForDepth(d, layerSuffix(e.hf));
          w.write(name, source.readF32(layerEntry(u.sourceLayer, e.key).hf));
          step(name);
        }
      });
    w.finish();
    writer = null;

    const meanRelResidual: Partial<Record<ProjName, number>> = {};
    for (const [p, a] of Object.entries(residualSums)) meanRelResidual[p as ProjName] = a!.sum / a!.n;
    const before = countParameters(cfg, source);
    const spec: RecursiveSpec = {
      version: 1,
      // absolute: training finds its default teacher here whatever folder it runs from
      source: { model: resolve(src), modelType: String(cfg.hf.model_type), numHiddenLayers: cfg.nLayers, nonEmbeddingParameters: before.nonEmbedding },
      plan: plan as unknown as RecursiveSpec['plan'],
      sharedNorms: !untie,
      lora: hasLora ? { init: loraInit, ranks, meanRelResidual } : null,
    };
    const hf: Record<string, unknown> = { ...cfg.hf, [layerCountKey(cfg)]: depth, recursive: spec };
    // per-layer attention types belong to depths: with layers dropped, each depth keeps its source layer's
    if (plan.selectedLayers.length !== cfg.nLayers || plan.selectedLayers.some((l, i) => l !== i)) {
      const types = Array.isArray(cfg.hf.layer_types) && cfg.hf.layer_types.length === cfg.nLayers ? (cfg.hf.layer_types as unknown[])
        // Mistral and Phi-3 have no per-layer types: their one window slides every layer, at any depth
        : cfg.arch === 'phi3' || cfg.hf.model_type === 'mistral' ? undefined
        : cfg.windows?.map((w) => (w > 0 ? 'sliding_attention' : 'full_attention'));
      if (types) hf.layer_types = plan.selectedLayers.map((l) => types[l]);
    }
    writeFileSync(join(out.tmp, 'config.json'), JSON.stringify(hf, null, 2) + '\n');
    copyTokenizer(src, format, tokenizerPath, out.tmp);
    const after = recursiveParameterCount(planned, before);
    out.commit();
    return { dst, plan, before, after, ranks, meanRelResidual, seconds: (performance.now() - t0) / 1000 };
  } catch (e) {
    writer?.abort();
    out?.abort();
    throw e;
  } finally {
    source.close();
  }
}

/** Copies the tokenizer files a recursive checkpoint needs to be used on its own. */
function copyTokenizer(src: string, format: string, tokenizerPath: string | null, dir: string): void {
  if (format === 'hf') for (const f of TOKENIZER_FILES) if (existsSync(join(src, f))) copyFileSync(join(src, f), join(dir, f));
  // a tokenizer named with --tokenizer (or beside a llama2.c file) travels with a model that has none
  const has = ['tokenizer.json', 'tokenizer.bin'].some((f) => existsSync(join(dir, f)));
  const name = tokenizerPath?.endsWith('.json') ? 'tokenizer.json' : tokenizerPath?.endsWith('.bin') ? 'tokenizer.bin' : null;
  if (!has && tokenizerPath && name) copyFileSync(tokenizerPath, join(dir, name));
}

/** Parameter accounting of a converted checkpoint, from its tensor plan. */
export function recursiveParameterCount(planned: TensorPlan[], source: ParameterCount): RecursiveParameterCount {
  let embedding = 0, nonEmbedding = 0, adapters = 0;
  const isEmbedding = (n: string) => /(embed_tokens|wte|wpe|embed_in|embed_out|lm_head)\.weight$/.test(n);
  for (const t of planned) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (isEmbedding(t.name)) embedding += n;
    else {
      nonEmbedding += n;
      if (/\.lora_[AB]$/.test(t.name)) adapters += n;
    }
  }
  return { embedding, uniqueNonEmbedding: nonEmbedding, adapters, ratioToSource: nonEmbedding / source.nonEmbedding };
}
