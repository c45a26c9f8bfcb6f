// Reference activations and gated units (SwiGLU, GeGLU), forward and backward,
// computed in double from the PyTorch formulas (silu, gelu tanh approximation,
// gelu with exact erf, relu). The native kernels (native/kernels/activation.cpp)
// must match these. Same-index kernels: an output may be exactly an input.
import type { ActCode } from '../kernels.js';

const SQRT1_2 = Math.SQRT1_2;
const GELU_BETA = Math.sqrt(2 / Math.PI);
const GELU_KAPPA = 0.044715;
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);
const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);

/**
 * erf in double, to ~1e-15 relative. |x| < 3: erf x = 2/√π·e^{−x²}·Σ_n (2x²)^n·x/(1·3·…·(2n+1)), a series of
 * positive terms (no cancellation); beyond, 1 − erfc |x| with erfc from its continued fraction.
 */
function erf(x: number): number {
  const ax = Math.abs(x);
  let r: number;
  if (ax < 3) {
    const t2 = 2 * ax * ax;
    let term = ax, sum = ax;
    for (let n = 1; term > 1e-17 * sum; n++) {
      term *= t2 / (2 * n + 1);
      sum += term;
    }
    r = TWO_OVER_SQRT_PI * Math.exp(-ax * ax) * sum;
  } else {
    r = 1 - erfcLarge(ax);
  }
  return x < 0 ? -r : r;
}

/** erfc x for x ≥ 3: e^{−x²}/√π · 1/(x + ½/(x + 1/(x + 3/2/(x + …)))) (Abramowitz–Stegun 7.1.14), evaluated bottom-up. */
function erfcLarge(x: number): number {
  let f = x;
  for (let n = 60; n >= 1; n--) f = x + n / 2 / f;
  return Math.exp(-x * x) / (Math.sqrt(Math.PI) * f);
}

/** 1 + erf x, without the cancellation where erf x ≈ −1 (the far negative tail of gelu). */
function onePlusErf(x: number): number {
  return x <= -3 ? erfcLarge(-x) : 1 + erf(x);
}

function checkAct(op: string, act: number): void {
  if (!(act === 0 || act === 1 || act === 2 || act === 3))
    throw new RangeError(`[${op}] act must be an integer in [0, 3], got ${act}`);
}

function actValue(x: number, act: number): number {
  switch (act) {
    case 0: return x / (1 + Math.exp(-x));
    case 1: return 0.5 * x * (1 + Math.tanh(GELU_BETA * (x + GELU_KAPPA * x * x * x)));
    case 2: return x * 0.5 * onePlusErf(x * SQRT1_2);
    default: return x < 0 ? 0 : x; // NaN passes through, as in PyTorch
  }
}

// d act / dx; relu's is 0 for x ≤ 0 (also at 0) and 1 otherwise (NaN too), as torch.threshold_backward.
function actGrad(x: number, act: number): number {
  switch (act) {
    case 0: {
      const s = 1 / (1 + Math.exp(-x));
      return s * (1 + x * (1 - s));
    }
    case 1: {
      const th = Math.tanh(GELU_BETA * (x + GELU_KAPPA * x * x * x));
      return 0.5 * (1 + th) + 0.5 * x * (1 - th * th) * GELU_BETA * (1 + 3 * GELU_KAPPA * x * x);
    }
    case 2: return 0.5 * onePlusErf(x * SQRT1_2) + x * INV_SQRT_2PI * Math.exp(-0.5 * x * x);
    default: return x <= 0 ? 0 : 1;
  }
}

/** y = act(x). Codes: 0 silu, 1 gelu tanh, 2 gelu erf, 3 relu. */
export function act_fwd_f32(y: Float32Array, x: Float32Array, n: number, act: ActCode): void {
  checkAct('act_fwd_f32', act);
  for (let i = 0; i < n; i++) y[i] = actValue(x[i], act);
}

/** dx = dy·act'(x) */
export function act_bwd_f32(dx: Float32Array, dy: Float32Array, x: Float32Array, n: number, act: ActCode): void {
  checkAct('act_bwd_f32', act);
  for (let i = 0; i < n; i++) dx[i] = dy[i] * actGrad(x[i], act);
}

/** out = act(gate)·up (SwiGLU with silu, GeGLU with gelu) */
export function glu_fwd_f32(out: Float32Array, gate: Float32Array, up: Float32Array, n: number, act: ActCode): void {
  checkAct('glu_fwd_f32', act);
  for (let i = 0; i < n; i++) out[i] = actValue(gate[i], act) * up[i];
}

/** dgate = dout·up·act'(gate), dup = dout·act(gate) (both overwritten) */
export function glu_bwd_f32(
  dgate: Float32Array, dup: Float32Array, dout: Float32Array, gate: Float32Array, up: Float32Array,
  n: number, act: ActCode,
): void {
  checkAct('glu_bwd_f32', act);
  for (let i = 0; i < n; i++) {
    const g = gate[i], u = up[i], d = dout[i];
    dgate[i] = d * u * actGrad(g, act);
    dup[i] = d * actValue(g, act);
  }
}
