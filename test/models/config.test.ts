// HF config.json reading: both config styles, clear errors for what is missing or unknown.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ConfigError } from '../../src/errors.js';
import { ropeInvFreq } from '../../src/models/config.js';
import { configFromHf } from '../../src/models/profiles/index.js';
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
    gpt2: ['gpt2', 'layer', true, false],
    'gpt-neox': ['gpt-neox', 'layer', false, true],
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
    [{ ...cfg, model_type: 'mamba' }, /model_type "mamba" is not supported/],
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
