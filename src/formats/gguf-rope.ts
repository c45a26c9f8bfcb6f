// Llama 3's rope scaling in GGUF: llama.cpp keeps no llama3 parameters, only rope_freqs.weight, one
// factor per rotary pair that divides its frequency (its converter computes them from the HF
// config). Writing computes them the same way; reading recovers parameters that give them back.
import { ConfigError } from '../errors.js';
import type { ModelConfig } from '../models/config.js';

/** The unscaled inverse frequency of rotary pair i, as the converter computes it (f32). */
function baseFreq(theta: number, rotary: number, i: number): number {
  return 1 / Math.fround(Math.pow(theta, Math.fround((2 * i) / rotary)));
}

/** Frequency divisor of pair i for llama3 scaling with wavelength bounds hw < lw (1 below hw, factor above lw, smooth between). */
function divisor(wave: number, factor: number, lw: number, hw: number): number {
  if (wave < hw) return 1;
  if (wave > lw) return factor;
  const smooth = (lw / wave - 1) / (lw / hw - 1);
  return 1 / ((1 - smooth) / factor + smooth);
}

/** rope_freqs.weight for a llama3-scaled model, as llama.cpp's converter writes it. */
export function llama3RopeFreqs(cfg: ModelConfig): Float32Array {
  const s = cfg.ropeScaling!;
  const lw = s.originalMaxPositions! / s.lowFreqFactor!, hw = s.originalMaxPositions! / s.highFreqFactor!;
  return Float32Array.from({ length: cfg.rotaryDim / 2 }, (_, i) => divisor((2 * Math.PI) / baseFreq(cfg.ropeTheta, cfg.rotaryDim, i), s.factor, lw, hw));
}

/**
 * HF llama3 rope parameters that reproduce a file's rope_freqs.weight within f32 rounding. Only
 * the wavelength bounds original/low and original/high matter, so low_freq_factor is taken as 1
 * (Llama 3.x's own value) and the bounds are fitted to the pairs between them; a file whose
 * factors no llama3 scaling gives is refused. All factors 1: no scaling (null).
 */
export function llama3FromRopeFreqs(freqs: Float32Array, theta: number, rotary: number, path: string): Record<string, number> | null {
  const field = 'rope_freqs.weight';
  if (freqs.length !== rotary / 2) throw new ConfigError('bad_value', `${path}: ${field} has ${freqs.length} factors, the rotary dims ${rotary} need ${rotary / 2}`, field);
  const waves = Array.from(freqs, (_, i) => (2 * Math.PI) / baseFreq(theta, rotary, i));
  const factor = Math.max(...freqs);
  const close = (a: number, b: number) => Math.abs(a - b) <= 2e-6 * Math.max(1, Math.abs(b));
  if (freqs.every((f) => close(f, 1))) return null;
  const pairs = [...freqs.keys()];
  const inner = pairs.filter((i) => !close(freqs[i], 1) && !close(freqs[i], factor));
  const lastOne = pairs.filter((i) => close(freqs[i], 1)).pop() ?? -1;
  const firstFactor = pairs.find((i) => close(freqs[i], factor) && i > lastOne) ?? freqs.length;
  let lw: number, hw: number;
  if (inner.length >= 2) {
    // between the bounds 1/divisor is linear in 1/wavelength: (1/d - 1/factor)/(1 - 1/factor) = α/wave - β
    const smooth = (i: number) => (1 / freqs[i] - 1 / factor) / (1 - 1 / factor);
    const [a, b] = [inner[0], inner[inner.length - 1]];
    const alpha = (smooth(a) - smooth(b)) / (1 / waves[a] - 1 / waves[b]);
    const beta = alpha / waves[a] - smooth(a);
    lw = alpha / beta;
    hw = lw / (1 + 1 / beta);
  } else {
    // fewer than two pairs between the bounds: put lw and hw a third of the way into their gaps (in
    // log-wavelength), hw solved from the one pair between when there is one
    const at = (i: number) => (i < 0 ? waves[0] / 2 : i >= waves.length ? waves[waves.length - 1] * 2 : waves[i]);
    lw = Math.cbrt(at(firstFactor - 1) * at(firstFactor) ** 2);
    hw = Math.cbrt(at(lastOne) ** 2 * at(lastOne + 1));
    if (inner.length === 1) {
      const i = inner[0], s = (1 / freqs[i] - 1 / factor) / (1 - 1 / factor);
      hw = lw / (1 + (lw / waves[i] - 1) / s);
    }
  }
  const ok = factor >= 1 && hw > 0 && lw > hw && waves.every((w, i) => close(divisor(w, factor, lw, hw), freqs[i]));
  if (!ok) throw new ConfigError('unsupported', `${path}: ${field} is not a llama3 rope scaling (factors ${freqs.length > 8 ? `${[...freqs.slice(0, 8)].join(', ')}, …` : [...freqs].join(', ')})`, field);
  return { factor, low_freq_factor: 1, high_freq_factor: lw / hw, original_max_position_embeddings: lw };
}
