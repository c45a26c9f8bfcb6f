// Saving a model's in-memory weights as a checkpoint directory rrt (and, for plain models,
// transformers) loads: the source architecture's HF names, and for recursive models the
// layout of docs/checkpoint-format.md (each slot once, per-depth norms and adapters).
// Quantized matrices are written as their GGUF blocks (U8, listed in the rrt.quantized metadata),
// everything else in f32. The directory is written atomically (temp dir + rename).
import { copyFileSync, existsSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { OutputDir } from '../formats/output-dir.js';
import { QUANTIZED_KEY, SafetensorsWriter, type TensorPlan } from '../formats/safetensors.js';
import { kernels } from '../tensor/kernels.js';
import { toGgufBlocks, weightValues } from '../tensor/quant.js';
import { type Tensor, isQuantized } from '../tensor/tensor.js';
import type { ModelConfig, ProjName } from './config.js';
import { profileForArch, type WeightEntry } from './profiles/index.js';
import { layerSuffix, loraNames, tensorNameForDepth } from './recursive-spec.js';
import { isNormOrBias, type Layer, layerTensor, type Weights } from './weights.js';
import { transpose2d } from '../tensor/transpose.js';

export const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'generation_config.json', 'tokenizer.model', 'tokenizer.bin'];

interface Item {
  name: string;
  tensor: Tensor;
  transpose?: boolean;
}

/** Every tensor to write, with its checkpoint name. */
export function checkpointTensors(cfg: ModelConfig, w: Weights): Item[] {
  const profile = profileForArch(cfg.arch);
  const globals: Record<string, Tensor | null> = { embed: w.embed, pos: w.pos, 'finalNorm.w': w.finalNorm.w, 'finalNorm.b': w.finalNorm.b, head: w.head };
  const items: Item[] = profile.globals(cfg).map((e) => ({ name: e.hf, tensor: globals[e.key]! }));
  const layerItem = (layer: Layer, e: WeightEntry, name = e.hf): Item | null => {
    const t = layerTensor(layer, e.key);
    return t ? { name, tensor: t, transpose: e.transpose } : null;
  };
  const rec = cfg.recursive;
  if (!rec) {
    w.layers.forEach((layer, i) => profile.layer(cfg, i).forEach((e) => items.push(layerItem(layer, e)!)));
    return items;
  }
  const written = new Set<number>();
  rec.plan.unrolled.forEach((u, d) => {
    const layer = w.layers[d];
    const entries = profile.layer(cfg, u.slot);
    if (!written.has(u.slot)) {
      written.add(u.slot);
      for (const e of entries) if (rec.sharedNorms || !isNormOrBias(e.key)) items.push(layerItem(layer, e)!);
    }
    for (const e of entries) {
      if (!rec.sharedNorms && isNormOrBias(e.key)) items.push(layerItem(layer, e, tensorNameForDepth(d, layerSuffix(e.hf)))!);
      const [p, part] = e.key.split('.') as [ProjName, string];
      const lora = part === 'w' ? layer.proj[p]?.lora : null;
      if (lora) {
        const n = loraNames(d, e.hf);
        items.push({ name: n.a, tensor: lora.a }, { name: n.b, tensor: lora.b });
      }
    }
  });
  return items;
}

/**
 * Writes the model to `dir` (replacing it when `force`), copying the tokenizer from `tokenizerFrom`
 * (a model directory, a tokenizer.json, or a llama2.c tokenizer .bin).
 * @example
 * saveModel(m.config, m.decoder.weights, 'runs/a/checkpoint', { tokenizerFrom: m.path, force: true });
 */
export function saveModel(cfg: ModelConfig, w: Weights, dir: string, opts: { force?: boolean; tokenizerFrom?: string; extra?: (dir: string) => void } = {}): void {
  const items = checkpointTensors(cfg, w);
  const out = new OutputDir(dir, opts.force);
  let writer: SafetensorsWriter | null = null;
  try {
    // a quantized matrix keeps its blocks, unless the checkpoint stores it transposed (GPT-2's Conv1D)
    const blocks = (it: Item) => isQuantized(it.tensor.dtype) && !it.transpose;
    const quantized: Record<string, { type: string; shape: number[] }> = {};
    const plan: TensorPlan[] = items.map((it) => {
      const [rows, cols] = it.tensor.shape;
      if (!blocks(it)) return { name: it.name, dtype: 'f32', shape: it.transpose ? [...it.tensor.shape].reverse() : [...it.tensor.shape] };
      quantized[it.name] = { type: it.tensor.dtype, shape: [rows, cols] };
      return { name: it.name, dtype: 'u8', shape: [rows, (cols / 32) * (it.tensor.dtype === 'q8_0' ? 34 : 18)] };
    });
    const metadata: Record<string, string> = { format: 'pt', made_by: 'rrt' };
    if (Object.keys(quantized).length > 0) metadata[QUANTIZED_KEY] = JSON.stringify(quantized);
    writer = new SafetensorsWriter(join(out.tmp, 'model.safetensors'), plan, metadata);
    for (const it of items) {
      if (blocks(it)) {
        writer.write(it.name, toGgufBlocks(it.tensor));
        continue;
      }
      const data = weightValues(it.tensor, 'saveModel');
      writer.write(it.name, it.transpose ? transpose2d(data, it.tensor.shape[0], it.tensor.shape[1]) : data);
    }
    writer.finish();
    writer = null;
    writeFileSync(join(out.tmp, 'config.json'), JSON.stringify(cfg.recursive ? { ...cfg.hf, recursive: cfg.recursive } : cfg.hf, null, 2) + '\n');
    const from = opts.tokenizerFrom;
    if (from && existsSync(from)) {
      if (statSync(from).isDirectory()) {
        for (const f of TOKENIZER_FILES) if (existsSync(join(from, f))) copyFileSync(join(from, f), join(out.tmp, f));
      } else copyFileSync(from, join(out.tmp, from.endsWith('.json') ? 'tokenizer.json' : 'tokenizer.bin'));
    }
    opts.extra?.(out.tmp);
    out.commit();
  } catch (e) {
    writer?.abort();
    out.abort();
    throw e;
  }
}
