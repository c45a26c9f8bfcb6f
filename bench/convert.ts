// Conversion at scale: a model shaped exactly like TinyLlama-1.1B (22 layers, d 2048, 32 heads,
// 4 KV heads, FFN 5632, vocab 32000; random bf16 weights) converted to 2 loops with rank-64
// SVD-initialised LoRA. Reports wall time and the converting process's peak resident memory.
// Usage: npm run bench:convert [-- --keep] [--rank R] [--init average]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SafetensorsWriter, type TensorPlan } from '../src/formats/safetensors.js';
import { kernels } from '../src/tensor/kernels.js';

const args = process.argv.slice(2);
const arg = (name: string, dflt: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : dflt);
const rank = arg('--rank', '64');
const init = arg('--init', 'average');
const dir = join(tmpdir(), 'rrt-bench-tinyllama');
const src = join(dir, 'tinyllama-shape');
const dst = join(dir, 'tinyllama-rrt');

const cfg = {
  architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: 2048, intermediate_size: 5632, num_hidden_layers: 22,
  num_attention_heads: 32, num_key_value_heads: 4, vocab_size: 32000, max_position_embeddings: 2048, rms_norm_eps: 1e-5,
  rope_theta: 10000, tie_word_embeddings: false, hidden_act: 'silu', bos_token_id: 1, eos_token_id: 2, dtype: 'bfloat16',
};

function makeSource(): void {
  if (existsSync(join(src, 'config.json'))) return;
  mkdirSync(src, { recursive: true });
  const D = 2048, F = 5632, V = 32000, KV = 256;
  const plan: TensorPlan[] = [{ name: 'model.embed_tokens.weight', dtype: 'bf16', shape: [V, D] }, { name: 'lm_head.weight', dtype: 'bf16', shape: [V, D] }, { name: 'model.norm.weight', dtype: 'bf16', shape: [D] }];
  for (let i = 0; i < 22; i++) {
    const p = `model.layers.${i}`;
    plan.push(
      { name: `${p}.input_layernorm.weight`, dtype: 'bf16', shape: [D] }, { name: `${p}.post_attention_layernorm.weight`, dtype: 'bf16', shape: [D] },
      { name: `${p}.self_attn.q_proj.weight`, dtype: 'bf16', shape: [D, D] }, { name: `${p}.self_attn.k_proj.weight`, dtype: 'bf16', shape: [KV, D] },
      { name: `${p}.self_attn.v_proj.weight`, dtype: 'bf16', shape: [KV, D] }, { name: `${p}.self_attn.o_proj.weight`, dtype: 'bf16', shape: [D, D] },
      { name: `${p}.mlp.gate_proj.weight`, dtype: 'bf16', shape: [F, D] }, { name: `${p}.mlp.up_proj.weight`, dtype: 'bf16', shape: [F, D] },
      { name: `${p}.mlp.down_proj.weight`, dtype: 'bf16', shape: [D, F] },
    );
  }
  const w = new SafetensorsWriter(join(src, 'model.safetensors'), plan);
  let s = 12345 >>> 0;
  for (const t of plan) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    const x = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      s ^= s << 13; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
      x[i] = t.shape.length === 1 ? 1 : ((s / 4294967296) * 2 - 1) * 0.034;
    }
    const data = new Uint16Array(n);
    kernels.f32_to_bf16(data, x, n);
    w.write(t.name, data);
  }
  w.finish();
  writeFileSync(join(src, 'config.json'), JSON.stringify(cfg, null, 2));
}

const t0 = performance.now();
makeSource();
console.log(`source: ${src} (${(statSync(join(src, 'model.safetensors')).size / 1e9).toFixed(2)} GB bf16, made in ${((performance.now() - t0) / 1000).toFixed(0)} s)`);
rmSync(dst, { recursive: true, force: true });
const child = `
import { convertToRecursive } from '${new URL('../src/recursive/convert.js', import.meta.url).pathname}';
const t = performance.now();
const s = convertToRecursive(${JSON.stringify(src)}, ${JSON.stringify(dst)}, { nLoops: 2, init: ${JSON.stringify(init)}, loraRank: ${Number(rank)} });
console.log(JSON.stringify({ seconds: (performance.now() - t) / 1000, maxRssMB: process.resourceUsage().maxRSS / 1024, after: s.after, residual: s.meanRelResidual }));
`;
const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', child], { encoding: 'utf8', maxBuffer: 1 << 24 });
if (r.status !== 0) throw new Error(r.stderr);
const res = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
const outBytes = statSync(join(dst, 'model.safetensors')).size;
console.log(`convert (B = 2, ${init}, rank ${rank}): ${res.seconds.toFixed(1)} s, peak RSS ${(res.maxRssMB / 1024).toFixed(2)} GB, output ${(outBytes / 1e9).toFixed(2)} GB f32`);
console.log(`unique non-embedding parameters ${(res.after.uniqueNonEmbedding / 1e6).toFixed(1)} M (${(100 * res.after.ratioToSource).toFixed(1)} % of the source), adapters ${(res.after.adapters / 1e6).toFixed(1)} M`);
if (args.includes('--json')) console.log(JSON.stringify(res));
if (!args.includes('--keep')) rmSync(dst, { recursive: true, force: true });
