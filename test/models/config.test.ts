// HF config.json reading: both config styles, clear errors for what is missing or unknown.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ConfigError } from '../../src/errors.js';
import { ropeInvFreq } from '../../src/models/config.js';
import { configFromHf, profiles } from '../../src/models/profiles/index.js';
import { actFromHf } from '../../src/models/profiles/profile.js';

const HF = new URL('../../fixtures/hf/', import.meta.url).pathname;
const load = (name: string) => JSON.parse(readFileSync(`${HF}${name}/config.json`, 'utf8'));

test('every fixture config reads into the expected profile', () => {
  const expect: Record<string, [string, string, boolean, boolean]> = {
    llama: ['llama', 'rms', false, false],
    'llama-tied': ['llama', 'rms', true, false],
    gemma: ['gemma', 'rmsPlusOne', true, false],
    qwen2: ['qwen2', 'rms', true, false],
    qwen3: ['qwen3', 'rms', false, false],
    olmo2: ['olmo2', 'rms', false, false],
    phi3: ['phi3', 'rms', false, false],
    'phi3-longrope': ['phi3', 'rms', false, false],
    gpt2: ['gpt2', 'layer', true, false],
    'gpt-neox': ['gpt-neox', 'layer', false, true],
    'llama3-rope': ['llama', 'rms', false, false],
  };
  for (const [name, [arch, norm, tied, parallel]] of Object.entries(expect)) {
    const c = configFromHf(load(name));
    assert.equal(c.arch, arch, name);
    assert.equal(c.normKind, norm, name);
    assert.equal(c.tiedHead, tied, name);
    assert.equal(c.parallelResidual, parallel, name);
  }
  const neox = configFromHf(load('gpt-neox'));
  assert.equal(neox.rotaryDim, 4); // 16 · 0.25
  const gemma = configFromHf(load('gemma'));
  assert.equal(gemma.nKvHeads, 1);
  assert.equal(gemma.act, 'geluTanh');
  assert.equal(gemma.embedScale, 8);
});

test('the older config style (rope_theta, rotary_pct, rotary_emb_base) reads the same as the newer one', () => {
  const newer = load('gpt-neox');
  const older = { ...newer, rotary_pct: 0.25, rotary_emb_base: 10000 };
  delete older.rope_parameters;
  const a = configFromHf(newer), b = configFromHf(older);
  assert.equal(b.rotaryDim, a.rotaryDim);
  assert.equal(b.ropeTheta, a.ropeTheta);
  const llamaNew = load('llama');
  const llamaOld = { ...llamaNew, rope_theta: 500000 };
  delete llamaOld.rope_parameters;
  assert.equal(configFromHf(llamaOld).ropeTheta, 500000);
  const partialNew = { ...llamaNew, rope_parameters: { rope_theta: 10000, rope_type: 'default', partial_rotary_factor: 0.5 } };
  assert.equal(configFromHf(partialNew).rotaryDim, 8);
});

test('rope scaling: linear divides every frequency; llama3 keeps high frequencies and divides low ones', () => {
  const base = configFromHf({ ...load('llama'), rope_parameters: { rope_theta: 10000, rope_type: 'default' } });
  const lin = configFromHf({ ...load('llama'), rope_scaling: { type: 'linear', factor: 4 }, rope_parameters: undefined });
  const f0 = ropeInvFreq(base), f1 = ropeInvFreq(lin);
  f0.forEach((f, i) => assert.ok(Math.abs(f1[i] - f / 4) < 1e-9));
  const l3 = configFromHf({
    ...load('llama'),
    rope_parameters: { rope_theta: 10000, rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 64 },
  });
  const f3 = ropeInvFreq(l3);
  // wavelength 2π/f: below 64/4 = 16 unchanged; above 64 divided by 8; in between smoothly interpolated
  f0.forEach((f, i) => {
    const wave = (2 * Math.PI) / f;
    if (wave < 16) assert.equal(f3[i], f);
    else if (wave > 64) assert.ok(Math.abs(f3[i] - f / 8) < 1e-9);
    else assert.ok(f3[i] <= f && f3[i] >= f / 8);
  });
});

test('missing fields, bad values and unknown architectures are named', () => {
  const cfg = load('llama');
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ ...cfg, hidden_size: undefined }, /no "hidden_size"/],
    [{ ...cfg, num_attention_heads: -4 }, /"num_attention_heads" must be a positive integer/],
    [{ ...cfg, num_key_value_heads: 3 }, /not a multiple of num_key_value_heads 3/],
    [{ ...cfg, model_type: 'mamba' }, new RegExp(`model_type "mamba" is not supported \\(supported: ${profiles.flatMap((p) => p.modelTypes).join(', ')}, gemma3 \\(text model\\)\\)`)],
    [{ ...cfg, model_type: undefined }, /no "model_type"/],
    [{ ...cfg, hidden_act: 'swoosh' }, /activation "swoosh" is not supported/],
    [{ ...cfg, rope_parameters: { rope_type: 'yarn', rope_theta: 10000, factor: 2 } }, /rope type "yarn" is not supported/],
    [{ ...load('gpt2'), n_embd: 65 }, /not a multiple of n_head/],
  ];
  for (const [json, pattern] of cases) {
    assert.throws(() => configFromHf(json), (e: unknown) => e instanceof ConfigError && pattern.test((e as Error).message), String(pattern));
  }
  assert.throws(() => configFromHf([1, 2]), ConfigError);
});

test('an unsupported activation is a ConfigError naming the config field it came from', () => {
  for (const [field, what] of [['hidden_act', 'llama'], ['activation_function', 'gpt2']] as const) {
    assert.throws(() => actFromHf('swiglu_x', what, field), (e: unknown) => {
      assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${String(e)}`);
      assert.equal(e.code, 'unsupported');
      assert.equal(e.field, field);
      assert.match(e.message, new RegExp(`^${what}: activation "swiglu_x" is not supported`));
      return true;
    });
  }
});

// Fields that change the math and that rrt does not implement: each is refused with its name (a
// ConfigError with code 'unsupported' and that field), never read past.
test('config fields that change the math but are not implemented are refused by name', () => {
  const llama = load('llama'), qwen2 = load('qwen2'), gemma = load('gemma'), gpt2 = load('gpt2');
  const rope = (extra: Record<string, unknown>) => ({ ...llama, rope_parameters: { rope_theta: 10000, ...extra } });
  const sliding = (n: number) => Array.from({ length: n }, (_, i) => (i % 2 ? 'sliding_attention' : 'full_attention'));
  const windowed = { ...qwen2, use_sliding_window: true, sliding_window: 64, layer_types: sliding(6) };
  const mistral = { ...llama, model_type: 'mistral', sliding_window: 64 };
  // [config, field, message, code ('unsupported' unless given)]
  const cases: [Record<string, unknown>, string, RegExp, string?][] = [
    [rope({ rope_type: 'yarn', factor: 4, original_max_position_embeddings: 64 }), 'rope_parameters', /^llama: rope type "yarn" is not supported \(default, linear, llama3\)/],
    [rope({ rope_type: 'longrope', short_factor: [1], long_factor: [2] }), 'rope_parameters', /rope type "longrope" is not supported/],
    [rope({ rope_type: 'dynamic', factor: 2 }), 'rope_parameters', /rope type "dynamic" is not supported/],
    [{ ...llama, rope_parameters: undefined, rope_scaling: { type: 'dynamic', factor: 2 } }, 'rope_scaling', /rope type "dynamic" is not supported/],
    [{ ...llama, rope_parameters: { full_attention: { rope_type: 'default', rope_theta: 1e6 }, sliding_attention: { rope_type: 'default', rope_theta: 1e4 } } }, 'rope_parameters', /rope_parameters per layer type \(full_attention, sliding_attention\) is not supported/],
    [{ ...gemma, attn_logit_softcapping: 50 }, 'attn_logit_softcapping', /^gemma: attn_logit_softcapping \(50\) is not supported/],
    [{ ...gemma, final_logit_softcapping: 30 }, 'final_logit_softcapping', /^gemma: final_logit_softcapping \(30\) is not supported/],
    [{ ...gemma, query_pre_attn_scalar: 256 }, 'query_pre_attn_scalar', /query_pre_attn_scalar 256 \(only head_dim, 16\)/],
    // sliding layers without a window: transformers' own masks and caches fail on them
    [{ ...qwen2, layer_types: sliding(6) }, 'layer_types', /^qwen2: layer_types names sliding_attention layers but there is no window \(use_sliding_window false or sliding_window null\)/, 'bad_value'],
    [{ ...windowed, sliding_window: null }, 'layer_types', /^qwen2: layer_types names sliding_attention layers but there is no window/, 'bad_value'],
    [{ ...windowed, layer_types: sliding(5) }, 'layer_types', /^qwen2: "layer_types" must list one attention type for each of the 6 layers/, 'bad_value'],
    [{ ...windowed, sliding_window: 0 }, 'sliding_window', /^qwen2: "sliding_window" must be a positive integer or null, got 0/, 'bad_value'],
    [{ ...windowed, layer_types: undefined, max_window_layers: -1 }, 'max_window_layers', /"max_window_layers" must be a non-negative integer, got -1/, 'bad_value'],
    [{ ...qwen2, layer_types: ['full_attention', 'linear_attention', 'full_attention', 'full_attention', 'full_attention', 'full_attention'] }, 'layer_types', /^qwen2: layer_types with linear_attention layers is not supported/],
    [{ ...load('qwen3'), layer_types: ['full_attention', 'chunked_attention', 'full_attention', 'full_attention'] }, 'layer_types', /^qwen3: layer_types with chunked_attention layers is not supported/],
    // MistralModel slides every layer while transformers' cache follows layer_types (its generation fails when they differ)
    [{ ...mistral, layer_types: sliding(6) }, 'layer_types', /^mistral: layer_types with full_attention layers is not supported \(Mistral slides every layer or none\)/],
    [{ ...mistral, sliding_window: null, layer_types: sliding(6) }, 'layer_types', /^mistral: layer_types names sliding_attention layers but there is no window \(sliding_window null\)/, 'bad_value'],
    // where no profile reads the window, sliding attention runs only within it (Llama's context is capped there)
    [{ ...gpt2, sliding_window: 128, use_sliding_window: true }, 'sliding_window', /^gpt2: sliding_window 128 with a context of 256 \(sliding-window attention\) is not supported/],
    [{ ...llama, layer_types: sliding(6) }, 'layer_types', /^llama: layer_types with sliding_attention layers \(sliding_window null, context 256\) is not supported/],
    [{ ...llama, qk_norm: true }, 'qk_norm', /^llama: qk_norm \(true\) is not supported/],
    [{ ...llama, use_qk_norm: true }, 'use_qk_norm', /use_qk_norm \(true\)/],
    [{ ...load('gpt-neox'), qk_layernorm: true }, 'qk_layernorm', /^gpt-neox: qk_layernorm \(true\)/],
    [{ ...llama, use_bidirectional_attention: true }, 'use_bidirectional_attention', /use_bidirectional_attention/],
    [{ ...llama, logits_scaling: 8 }, 'logits_scaling', /logits_scaling 8 \(only 1\)/],
    [{ ...llama, embedding_multiplier: 12 }, 'embedding_multiplier', /embedding_multiplier 12/],
    [{ ...llama, logit_scale: 0.0625 }, 'logit_scale', /logit_scale 0.0625/],
    [{ ...llama, no_rope_layers: [1, 1, 1, 0, 1, 1] }, 'no_rope_layers', /no_rope_layers \(layers without rotary embeddings\)/],
    // checked whether or not the profile reads the windows itself
    [{ ...windowed, no_rope_layers: [1, 1, 1, 0, 1, 1] }, 'no_rope_layers', /^qwen2: no_rope_layers \(layers without rotary embeddings\)/],
    [{ ...mistral, no_rope_layers: [0, 1, 1, 1, 1, 1] }, 'no_rope_layers', /^llama: no_rope_layers/],
  ];
  for (const [json, field, pattern, code = 'unsupported'] of cases) {
    assert.throws(() => configFromHf(json), (e: unknown) => {
      assert.ok(e instanceof ConfigError, `${field}: expected a ConfigError, got ${String(e)}`);
      assert.equal(e.code, code, field);
      assert.equal(e.field, field);
      assert.match(e.message, pattern);
      assert.doesNotMatch(e.message, /\n/);
      return true;
    }, field);
  }
});

test('the same fields with values that leave the math unchanged are accepted', () => {
  const llama = load('llama'), qwen2 = load('qwen2'), gemma = load('gemma');
  const harmless: Record<string, unknown>[] = [
    { ...gemma, attn_logit_softcapping: null, final_logit_softcapping: null, query_pre_attn_scalar: 16 },
    { ...llama, qk_norm: false, use_qk_norm: false, use_bidirectional_attention: false, attn_temperature_tuning: false },
    { ...llama, embedding_multiplier: 1, residual_multiplier: 1, attention_multiplier: 1, logits_scaling: 1, logit_scale: 1 },
    { ...llama, no_rope_layers: [1, 1, 1, 1, 1, 1] },
    { ...qwen2, sliding_window: 4096, use_sliding_window: false, max_window_layers: 2 },
    { ...llama, rope_parameters: { rope_theta: 10000, rope_type: 'default' }, rope_scaling: null },
  ];
  for (const json of harmless) assert.doesNotThrow(() => configFromHf(json));
});

// transformers 5.23's rules (configuration_*.py, modeling_*.py; a query at q sees keys q − window + 1 .. q)
test('sliding windows of the Llama family: read per layer as transformers runs them, the context not capped', () => {
  const llama = load('llama'), qwen2 = load('qwen2'), qwen3 = load('qwen3'), phi3 = load('phi3');
  const read = (json: Record<string, unknown>) => {
    const c = configFromHf(json);
    return { windows: c.windows, context: c.maxPositions };
  };
  const all = (n: number, w: number) => new Array<number>(n).fill(w);
  // Mistral 7B v0.1 (window 4096, context 32768): every layer; MistralConfig's default window is 4096, null none
  assert.deepEqual(read({ ...llama, model_type: 'mistral', sliding_window: 4096, max_position_embeddings: 32768 }), { windows: all(6, 4096), context: 32768 });
  assert.deepEqual(read({ ...llama, model_type: 'mistral', max_position_embeddings: 32768 }), { windows: all(6, 4096), context: 32768 });
  assert.deepEqual(read({ ...llama, model_type: 'mistral', sliding_window: null, max_position_embeddings: 32768 }), { windows: undefined, context: 32768 });
  assert.deepEqual(read({ ...llama, model_type: 'mistral', sliding_window: 64, layer_types: new Array(6).fill('sliding_attention') }).windows, all(6, 64));
  // a window spanning the whole context is full attention
  assert.deepEqual(read({ ...llama, model_type: 'mistral', sliding_window: 256 }), { windows: undefined, context: 256 });
  // Phi-3-mini-4k (window 2047, context 4096): every layer; no window by default
  assert.deepEqual(read({ ...phi3, sliding_window: 2047, max_position_embeddings: 4096, original_max_position_embeddings: 4096 }), { windows: all(4, 2047), context: 4096 });
  assert.deepEqual(read({ ...phi3, sliding_window: undefined }), { windows: undefined, context: 256 });
  // longrope still stops at the original context (128 here); a window of 100 slides within it
  assert.deepEqual(read({ ...load('phi3-longrope'), sliding_window: 100 }), { windows: all(4, 100), context: 128 });
  // Qwen2/Qwen3: only with use_sliding_window; layers from max_window_layers on, or as layer_types says
  const { layer_types: _, ...qwen2Default } = qwen2;
  assert.deepEqual(read({ ...qwen2Default, use_sliding_window: true, sliding_window: 64, max_window_layers: 4 }).windows, [0, 0, 0, 0, 64, 64]);
  assert.deepEqual(read({ ...qwen2Default, use_sliding_window: true, sliding_window: 64, max_window_layers: 0 }).windows, all(6, 64));
  assert.deepEqual(read({ ...qwen2Default, use_sliding_window: true, sliding_window: 64 }).windows, undefined, 'max_window_layers 28 ≥ 6 layers');
  assert.deepEqual(read({ ...qwen2Default, sliding_window: undefined, use_sliding_window: true, max_window_layers: 2, max_position_embeddings: 8192 }).windows, [0, 0, 4096, 4096, 4096, 4096], 'default window 4096');
  assert.deepEqual(read({ ...qwen2Default, use_sliding_window: true, max_window_layers: 2 }).windows, undefined, 'sliding_window null: none');
  assert.deepEqual(read({ ...qwen2Default, use_sliding_window: false, sliding_window: 64, max_window_layers: 0 }), { windows: undefined, context: 256 });
  const types = ['sliding_attention', 'full_attention', 'sliding_attention', 'full_attention'];
  assert.deepEqual(read({ ...qwen3, use_sliding_window: true, sliding_window: 8, layer_types: types }).windows, [8, 0, 8, 0]);
  assert.deepEqual(read({ ...qwen3, use_sliding_window: true, sliding_window: 8, max_window_layers: 0, layer_types: new Array(4).fill('full_attention') }).windows, undefined);
  // model_type llama: LlamaModel attends in full whatever sliding_window says, but transformers' cache
  // then keeps only the window, so rrt runs it where the two agree: the context capped at the window
  assert.deepEqual(read({ ...llama, sliding_window: 64 }), { windows: undefined, context: 64 });
  assert.deepEqual(read({ ...llama, sliding_window: 64, use_sliding_window: false }), { windows: undefined, context: 256 });
});

test('rope_scaling and rope_parameters: the older key is read as transformers reads it, and both may only agree', () => {
  const l3 = load('llama3-rope');
  const viaParams = configFromHf(l3);
  const { rope_theta, ...scaling } = l3.rope_parameters;
  const viaLegacy = configFromHf({ ...l3, rope_parameters: undefined, rope_theta, rope_scaling: { ...scaling, type: scaling.rope_type, rope_type: undefined } });
  assert.deepEqual(viaLegacy.ropeScaling, viaParams.ropeScaling);
  assert.deepEqual(ropeInvFreq(viaLegacy), ropeInvFreq(viaParams));
  assert.deepEqual(configFromHf({ ...l3, rope_scaling: { ...l3.rope_parameters } }).ropeScaling, viaParams.ropeScaling);
  assert.throws(
    () => configFromHf({ ...l3, rope_scaling: { type: 'linear', factor: 2 } }),
    (e: unknown) => e instanceof ConfigError && /both "rope_scaling" and "rope_parameters", and they differ in factor, rope_type; keep one/.test(e.message),
  );
});

test("llama3 rope: original_max_position_embeddings from the top-level field, else the scaling's, else max_position_embeddings (transformers 5.23's inv_freq)", () => {
  const l3 = load('llama3-rope');
  const { original_max_position_embeddings: _, ...noOrig } = l3.rope_parameters;
  // the first four inverse frequencies transformers 5.23 computes for each config
  const cases: [Record<string, unknown>, number, number[]][] = [
    [l3, 32, [1.0, 0.3760157525539398, 0.0958399772644043, 0.02222849242389202]],
    [{ ...l3, original_max_position_embeddings: 64 }, 64, [1.0, 0.5623413324356079, 0.24438458681106567, 0.06430987268686295]],
    [{ ...l3, rope_parameters: noOrig }, 256, [1.0, 0.5623413324356079, 0.3162277638912201, 0.17782793939113617]],
  ];
  for (const [json, orig, want] of cases) {
    const c = configFromHf(json);
    assert.equal(c.ropeScaling?.originalMaxPositions, orig);
    const got = ropeInvFreq(c);
    want.forEach((w, i) => assert.ok(Math.abs(got[i] - w) <= 1e-6 * w, `original ${orig}, inv_freq[${i}]: ${got[i]} vs ${w}`));
  }
});
