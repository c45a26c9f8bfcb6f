// Option parsers shared by commands: they reject bad values with a clear message.
import { InvalidArgumentError } from 'commander';
import { WEIGHT_DTYPES } from '../models/weights.js';

/** --dtype of the commands that load a model: the weight matrices in memory. */
export const DTYPE_HELP = 'weight matrices in memory: f32, bf16, q8_0 or q4_0 (quantized: embedding and LM head q8_0; norms, biases and adapters unquantized)';
export const weightDtype = () => choice(WEIGHT_DTYPES);

/** One stderr line naming the matrices a quantized load kept in bf16, if any. */
export function reportUnquantized(m: { unquantized: string[] }): void {
  if (m.unquantized.length > 0)
    process.stderr.write(`note: ${m.unquantized.length} matrices kept in bf16 (rows not whole 32-value blocks): ${m.unquantized.slice(0, 3).join(', ')}${m.unquantized.length > 3 ? ', …' : ''}\n`);
}

export function int(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^-?\d+$/.test(v.trim()) || n < min || n > max) throw new InvalidArgumentError(`expected an integer in [${min}, ${max}], got '${v}'`);
    return n;
  };
}

export function float(min: number, max = Infinity) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n < min || n > max) throw new InvalidArgumentError(`expected a number in [${min}, ${max}], got '${v}'`);
    return n;
  };
}

export function choice<T extends string>(values: readonly T[]) {
  return (v: string): T => {
    if (!values.includes(v as T)) throw new InvalidArgumentError(`expected one of ${values.join(', ')}, got '${v}'`);
    return v as T;
  };
}

export function humanBytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

export function humanCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} K`;
  return String(n);
}
