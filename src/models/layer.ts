// One transformer layer, written once. An architecture is a LayerDescription (where its norms
// sit, how its projections are fused, its q/k norm, MLP and residual); the layer's dataflow
// below runs it through a LayerOps backend: the decoder's autograd tensors (training, eval,
// single-stream decoding) or the serving engine's row groups at mixed depths. Backends own
// the numerics (which kernels, which buffers), the description owns the order of operations,
// so the two paths agree by construction.
import type { ModelConfig, ProjName, QkvLayout } from './config.js';
import type { LayerNormName } from './weights.js';

/** Where a sublayer's norms sit: on its input (pre), on its output before the residual add (post), by Layer field. */
export interface NormSites {
  pre: LayerNormName | null;
  post: LayerNormName | null;
}

export interface LayerDescription {
  attnNorms: NormSites;
  mlpNorms: NormSites;
  qkv: QkvLayout;
  /** RMSNorm of q and k after the projection, before rotary: over each head's values or over the whole projection */
  qkNorm: 'none' | 'perHead' | 'whole';
  /** gated: down(act(gate(h))·up(h)); gateUp: the same from one fused [gate | up] projection; plain: down(act(up(h))) */
  mlp: 'gated' | 'gateUp' | 'plain';
  /** sequential: x1 = x + attn(x), out = x1 + mlp(x1); parallel (GPT-NeoX): out = x + attn(x) + mlp(x) */
  residual: 'sequential' | 'parallel';
}

/** The description of a config's layers (the same for every depth; per-depth attention lives in the backend). */
export function describeLayer(cfg: ModelConfig): LayerDescription {
  const placement = cfg.normPlacement ?? 'pre';
  const sites = (norm: LayerNormName, post: LayerNormName): NormSites =>
    placement === 'pre' ? { pre: norm, post: null } : placement === 'post' ? { pre: null, post: norm } : { pre: norm, post };
  return {
    attnNorms: sites('attnNorm', 'postAttnNorm'),
    mlpNorms: sites('mlpNorm', 'postMlpNorm'),
    qkv: cfg.qkvLayout,
    qkNorm: cfg.qkNorm ?? 'none',
    mlp: cfg.gateUpFused ? 'gateUp' : cfg.gated ? 'gated' : 'plain',
    residual: cfg.parallelResidual ? 'parallel' : 'sequential',
  };
}

/**
 * What a layer's dataflow needs from a backend. Values are [rows, width] row-major. `attnInput`
 * may add rows (the serving engine's fill rows, which need keys and values only): projections,
 * norms and rotary of such a value cover every row, `queryRows` keeps the layer's own.
 */
export interface LayerOps<X> {
  /** the rows attention's keys and values come from: the layer's own, then any that only need keys and values */
  attnInput(x: X): X;
  /** the layer's own rows of an attnInput-shaped value */
  queryRows(h: X): X;
  norm(x: X, which: LayerNormName): X;
  project(x: X, which: ProjName): X;
  /** q (own rows), k, v of a fused qkv projection's output */
  splitQkv(qkv: X): [X, X, X];
  /** RMSNorm of q or k: per head over headDim values, or over each row's whole projection */
  qkNorm(x: X, which: 'qNorm' | 'kNorm', whole: boolean): X;
  /** rotary embedding of q (own rows) or k (every row) */
  rope(x: X, which: 'q' | 'k'): X;
  /** attention of q over the keys and values (written to the caches first where there are any); [own rows, H·Dh] */
  attend(q: X, k: X, v: X): X;
  /** a + b; `last` marks the layer's output */
  add(a: X, b: X, last: boolean): X;
  /** act(gate)·up */
  glu(gate: X, up: X): X;
  /** act(gate)·up of a fused [gate | up] output */
  gluFused(gateUp: X): X;
  act(x: X): X;
}

/** The layer: x [rows, D] → [rows, D]. */
export function runLayer<X>(d: LayerDescription, ops: LayerOps<X>, x: X): X {
  const xa = ops.attnInput(x);
  const h = d.attnNorms.pre ? ops.norm(xa, d.attnNorms.pre) : xa;
  let q: X, k: X, v: X;
  if (d.qkv === 'separate') {
    q = ops.project(ops.queryRows(h), 'q');
    k = ops.project(h, 'k');
    v = ops.project(h, 'v');
  } else [q, k, v] = ops.splitQkv(ops.project(h, 'qkv'));
  if (d.qkNorm !== 'none') {
    q = ops.qkNorm(q, 'qNorm', d.qkNorm === 'whole');
    k = ops.qkNorm(k, 'kNorm', d.qkNorm === 'whole');
  }
  q = ops.rope(q, 'q');
  k = ops.rope(k, 'k');
  let o = ops.project(ops.attend(q, k, v), 'o');
  if (d.attnNorms.post) o = ops.norm(o, d.attnNorms.post);
  const x1 = ops.add(x, o, false);

  let m = mlp(d, ops, d.mlpNorms.pre ? ops.norm(d.residual === 'parallel' ? x : x1, d.mlpNorms.pre) : x1);
  if (d.mlpNorms.post) m = ops.norm(m, d.mlpNorms.post);
  return ops.add(x1, m, true);
}

function mlp<X>(d: LayerDescription, ops: LayerOps<X>, h: X): X {
  const inner =
    d.mlp === 'gateUp' ? ops.gluFused(ops.project(h, 'gateUp'))
    : d.mlp === 'gated' ? ops.glu(ops.project(h, 'gate'), ops.project(h, 'up'))
    : ops.act(ops.project(h, 'up'));
  return ops.project(inner, 'down');
}
