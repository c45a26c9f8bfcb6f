// Export of a (relaxed) recursive model as a plain checkpoint of its source architecture:
// unrolled, with every adapter merged (W_ℓ = W'_slot + B_ℓ·A_ℓ), so transformers, llama.cpp's
// converters and other tools load it. Written tensor by tensor into an atomic output directory.
import { copyFileSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { OutputDir } from '../formats/output-dir.js';
import { SafetensorsWriter, type TensorPlan } from '../formats/safetensors.js';
import type { ProjName } from '../models/config.js';
import { loadModel } from '../models/load.js';
import { profileForArch } from '../models/profiles/index.js';
import { isLayerNorm, type Layer, layerTensor } from '../models/weights.js';
import { kernels } from '../tensor/kernels.js';
import type { Tensor } from '../tensor/tensor.js';
import { layerCountKey } from './convert.js';
import { transpose2d } from '../tensor/transpose.js';
import { TOKENIZER_FILES } from '../models/save.js';

export interface ExportOptions {
  force?: boolean;
  tokenizer?: string;
  onProgress?: (done: number, total: number, label: string) => void;
}

/** The tensor of canonical key `key` ('q.w', 'attnNorm.b', ...) of an unrolled layer, adapters merged (a fresh copy; shared with the GGUF export). */
export function mergedLayerTensor(layer: Layer, key: string): Float32Array | null {
  const t = layerTensor(layer, key);
  if (!t) return null;
  const out = t.f32.slice();
  const [name, part] = key.split('.');
  const lora = part === 'w' ? layer.proj[name as ProjName]?.lora : null;
  if (lora) {
    const [dOut, dIn] = t.shape;
    kernels.gemm_f32(out, lora.b.f32, lora.a.f32, dOut, dIn, lora.a.shape[0], 0, 0, 1);
  }
  return out;
}

/**
 * Writes `model` unrolled as a plain HF checkpoint directory.
 * @example
 * exportUnrolled('out/tinyllama-rrt', 'out/tinyllama-rrt-unrolled');
 */
export function exportUnrolled(model: string, dst: string, opts: ExportOptions = {}): { dst: string; layers: number } {
  const m = loadModel(model, { tokenizer: opts.tokenizer, hugePages: false });
  const cfg = m.config;
  const profile = profileForArch(cfg.arch);
  const out = new OutputDir(dst, opts.force);
  let writer: SafetensorsWriter | null = null;
  try {
    const globals = new Map<string, Tensor | null>([
      ['embed', m.decoder.weights.embed],
      ['pos', m.decoder.weights.pos],
      ['finalNorm.w', m.decoder.weights.finalNorm.w],
      ['finalNorm.b', m.decoder.weights.finalNorm.b],
      ['head', m.decoder.weights.head],
    ]);
    const planned: TensorPlan[] = [];
    for (const e of profile.globals(cfg)) planned.push({ name: e.hf, dtype: 'f32', shape: [...globals.get(e.key)!.shape] });
    const layers = m.decoder.weights.layers;
    layers.forEach((layer, i) => {
      for (const e of profile.layer(cfg, i)) {
        const t = mergedLayerTensor(layer, e.key);
        if (!t) continue;
        const [name] = e.key.split('.');
        const shape = isLayerNorm(name) || e.key.endsWith('.b') ? [t.length] : [...layer.proj[name as ProjName]!.w.shape];
        planned.push({ name: e.hf, dtype: 'f32', shape: e.transpose ? shape.reverse() : shape });
      }
    });
    writer = new SafetensorsWriter(join(out.tmp, 'model.safetensors'), planned, { format: 'pt', made_by: 'rrt export' });
    let done = 0;
    for (const e of profile.globals(cfg)) {
      writer.write(e.hf, globals.get(e.key)!.f32);
      opts.onProgress?.(++done, planned.length, e.hf);
    }
    layers.forEach((layer, i) => {
      for (const e of profile.layer(cfg, i)) {
        let t = mergedLayerTensor(layer, e.key);
        if (!t) continue;
        if (e.transpose) {
          const [rows, cols] = layer.proj[e.key.split('.')[0] as ProjName]!.w.shape;
          t = transpose2d(t, rows, cols);
        }
        writer!.write(e.hf, t);
        opts.onProgress?.(++done, planned.length, e.hf);
      }
    });
    writer.finish();
    writer = null;
    const hf: Record<string, unknown> = { ...cfg.hf, [layerCountKey(cfg)]: layers.length };
    delete hf.recursive;
    writeFileSync(join(out.tmp, 'config.json'), JSON.stringify(hf, null, 2) + '\n');
    for (const f of TOKENIZER_FILES)
      if (m.format === 'hf' && existsSync(join(model, f))) copyFileSync(join(model, f), join(out.tmp, f));
    out.commit();
    return { dst, layers: layers.length };
  } catch (e) {
    writer?.abort();
    out.abort();
    throw e;
  }
}
