// Training checkpoints: the model (a directory every rrt command loads), the optimizer's
// moments, and the run state (step, data position, tokens seen), with a manifest of sha256
// sums. Written to checkpoint.next, then rotated in (checkpoint → checkpoint.prev), so a kill
// at any moment leaves a complete checkpoint; a corrupt one is refused and the previous used.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RrtError } from '../errors.js';
import { openSafetensors, writeSafetensors } from '../formats/safetensors.js';
import type { ModelConfig } from '../models/config.js';
import { saveModel } from '../models/save.js';
import type { Weights } from '../models/weights.js';
import type { SamplerState } from './data.js';
import type { AdamW } from './optimizer.js';

export interface RunState {
  step: number;
  tokens: number;
  sampler: SamplerState;
  /** wall seconds spent training so far */
  seconds: number;
}

const FILES = ['model.safetensors', 'optimizer.safetensors', 'state.json', 'config.json'];

function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

export function checkpointDirs(runDir: string): { current: string; prev: string; next: string } {
  return { current: join(runDir, 'checkpoint'), prev: join(runDir, 'checkpoint.prev'), next: join(runDir, 'checkpoint.next') };
}

export function saveCheckpoint(runDir: string, cfg: ModelConfig, weights: Weights, opt: AdamW, state: RunState, tokenizerFrom?: string): void {
  const { current, prev, next } = checkpointDirs(runDir);
  saveModel(cfg, weights, next, {
    force: true,
    tokenizerFrom,
    extra: (dir) => {
      const moments = opt.params.flatMap((p) => [
        { name: `m.${p.name}`, dtype: 'f32' as const, shape: [p.tensor.size], data: opt.m.get(p.name)! },
        { name: `v.${p.name}`, dtype: 'f32' as const, shape: [p.tensor.size], data: opt.v.get(p.name)! },
      ]);
      writeSafetensors(join(dir, 'optimizer.safetensors'), moments, { step: String(opt.step) });
      writeFileSync(join(dir, 'state.json'), JSON.stringify({ ...state, optimizerStep: opt.step }, null, 2) + '\n');
      const sums = Object.fromEntries(FILES.map((f) => [f, sha256(join(dir, f))]));
      writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ format: 'rrt-train-checkpoint', version: 1, sha256: sums }, null, 2) + '\n');
    },
  });
  rmSync(prev, { recursive: true, force: true });
  if (existsSync(current)) renameSync(current, prev);
  renameSync(next, current);
}

/** Checks a checkpoint directory's manifest and state; returns its state or throws why it is unusable. */
export function verifyCheckpoint(dir: string): RunState & { optimizerStep: number } {
  const bad = (why: string) => new RrtError('bad_checkpoint', `checkpoint ${dir} is unusable: ${why}`);
  if (!existsSync(join(dir, 'manifest.json'))) throw bad('no manifest.json (incomplete write?)');
  let manifest: { sha256?: Record<string, string> };
  try {
    manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  } catch {
    throw bad('manifest.json is not valid JSON');
  }
  for (const f of FILES) {
    if (!existsSync(join(dir, f))) throw bad(`${f} is missing`);
    if (manifest.sha256?.[f] !== sha256(join(dir, f))) throw bad(`${f} does not match its sha256 in manifest.json (corrupt or modified)`);
  }
  const state = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8'));
  if (!Number.isInteger(state.step) || state.step < 0) throw bad('state.json has no valid step');
  return state;
}

export interface FoundCheckpoint {
  dir: string;
  state: RunState & { optimizerStep: number };
  /** why newer checkpoints were skipped */
  skipped: string[];
}

/** The newest usable checkpoint of a run (checkpoint, else checkpoint.prev), or null when there is none. */
export function findCheckpoint(runDir: string): FoundCheckpoint | null {
  const { current, prev } = checkpointDirs(runDir);
  const skipped: string[] = [];
  for (const dir of [current, prev]) {
    if (!existsSync(dir)) continue;
    try {
      return { dir, state: verifyCheckpoint(dir), skipped };
    } catch (e) {
      skipped.push((e as Error).message);
    }
  }
  if (skipped.length) throw new RrtError('bad_checkpoint', `no usable checkpoint in ${runDir}: ${skipped.join('; ')}`);
  return null;
}

/** Puts the optimizer moments of a checkpoint back. */
export function loadOptimizerState(dir: string, opt: AdamW, optimizerStep: number): void {
  const f = openSafetensors(join(dir, 'optimizer.safetensors'));
  try {
    for (const p of opt.params) {
      for (const [kind, map] of [['m', opt.m], ['v', opt.v]] as const) {
        const name = `${kind}.${p.name}`;
        const info = f.info(name);
        if (info.shape[0] !== p.tensor.size) throw new RrtError('bad_checkpoint', `${dir}: optimizer state ${name} has ${info.shape[0]} values, the parameter ${p.tensor.size}`);
        map.set(p.name, f.readF32(name));
      }
    }
  } finally {
    f.close();
  }
  opt.step = optimizerStep;
}
