// Causal grouped-query attention over a key/value cache: the reference (the spec the native
// kernels are tested against). One query row at a time: its scores against every key it may
// see are materialised, softmax and sums run in float64. Shapes: q (T,H,Dh); k, v (S,Hkv,Dh)
// hold absolute positions 0..S−1; query t sits at pos0+t and sees keys 0..pos0+t, or with a
// window W > 0 only keys j > pos0+t−W (transformers' sliding_window: W keys counting its own);
// head h reads kv head ⌊h/(H/Hkv)⌋; lse (H,T). With softcap c > 0 a scaled score x becomes
// c·tanh(x/c) before the softmax (Gemma 2). dq is overwritten, dk and dv accumulate.

function checkOptions(op: string, window: number, softcap: number): void {
  if (!Number.isInteger(window) || window < 0) throw new RangeError(`[${op}] window must be a non-negative integer, got ${window}`);
  if (!Number.isFinite(softcap)) throw new RangeError(`[${op}] softcap must be finite, got ${softcap}`);
  if (softcap < 0) throw new RangeError(`[${op}] softcap must be ≥ 0 (0: no capping), got ${softcap}`);
}

function checkSizes(
  op: string, T: number, S: number, H: number, Hkv: number, Dh: number, pos0: number, scale: number, window: number, softcap: number,
): void {
  const sizes: [string, number][] = [['T', T], ['S', S], ['H', H], ['Hkv', Hkv], ['Dh', Dh], ['pos0', pos0]];
  for (const [name, x] of sizes) {
    if (!Number.isInteger(x) || x < 0) throw new RangeError(`[${op}] ${name} must be a non-negative integer, got ${x}`);
  }
  if (Hkv < 1 || H < 1 || H % Hkv !== 0) {
    throw new RangeError(`[${op}] H = ${H} must be a positive multiple of Hkv = ${Hkv}`);
  }
  if (Dh < 1) throw new RangeError(`[${op}] Dh must be ≥ 1, got ${Dh}`);
  if (pos0 + T > S) throw new RangeError(`[${op}] pos0 + T = ${pos0 + T} exceeds the S = ${S} keys in the cache`);
  if (!Number.isFinite(scale)) throw new RangeError(`[${op}] scale must be finite, got ${scale}`);
  checkOptions(op, window, softcap);
}

/** The first key position `pos` sees. */
function firstKey(pos: number, window: number): number {
  return window > 0 ? Math.max(0, pos - window + 1) : 0;
}

function checkArray(op: string, name: string, a: Float32Array, need: number, what: string): void {
  if (!(a instanceof Float32Array)) throw new TypeError(`[${op}] ${name} must be a Float32Array`);
  if (a.length < need) throw new RangeError(`[${op}] ${name} has ${a.length} elements, expected ${what} = ${need}`);
}

/** The scores of query row (t, h) against keys j0..pos0+t (s[i] is key j0+i), in float64: scale·q·k, capped when softcap > 0. */
function scores(
  q: Float32Array, k: Float32Array, t: number, h: number, H: number, Hkv: number, Dh: number, pos0: number, scale: number, j0: number, softcap: number,
): Float64Array {
  const g = Math.floor(h / (H / Hkv));
  const s = new Float64Array(pos0 + t + 1 - j0);
  for (let i = 0; i < s.length; i++) {
    let dot = 0;
    for (let d = 0; d < Dh; d++) dot += q[(t * H + h) * Dh + d] * k[((j0 + i) * Hkv + g) * Dh + d];
    s[i] = softcap > 0 ? softcap * Math.tanh((scale * dot) / softcap) : scale * dot;
  }
  return s;
}

/** out[t,h] = Σ_j softmax_j(s_j)·v_j over the keys j query t sees; lse[h,t] = log Σ_j exp(s_j); s_j the (capped) score. */
export function attention_fwd_f32(
  out: Float32Array, lse: Float32Array | null, q: Float32Array, k: Float32Array, v: Float32Array,
  T: number, S: number, H: number, Hkv: number, Dh: number, pos0: number, scale: number, window: number, softcap: number,
): void {
  const op = 'attention_fwd_f32';
  checkSizes(op, T, S, H, Hkv, Dh, pos0, scale, window, softcap);
  checkArray(op, 'out', out, T * H * Dh, 'T·H·Dh');
  if (lse !== null) checkArray(op, 'lse', lse, H * T, 'H·T');
  checkArray(op, 'q', q, T * H * Dh, 'T·H·Dh');
  checkArray(op, 'k', k, S * Hkv * Dh, 'S·Hkv·Dh');
  checkArray(op, 'v', v, S * Hkv * Dh, 'S·Hkv·Dh');
  const acc = new Float64Array(Dh);
  for (let t = 0; t < T; t++) {
    for (let h = 0; h < H; h++) {
      const g = Math.floor(h / (H / Hkv)), j0 = firstKey(pos0 + t, window);
      const p = scores(q, k, t, h, H, Hkv, Dh, pos0, scale, j0, softcap);
      let max = -Infinity;
      for (let j = 0; j < p.length; j++) max = Math.max(max, p[j]);
      let sum = 0;
      for (let j = 0; j < p.length; j++) {
        p[j] = Math.exp(p[j] - max);
        sum += p[j];
      }
      acc.fill(0);
      for (let j = 0; j < p.length; j++) {
        for (let d = 0; d < Dh; d++) acc[d] += p[j] * v[((j0 + j) * Hkv + g) * Dh + d];
      }
      for (let d = 0; d < Dh; d++) out[(t * H + h) * Dh + d] = acc[d] / sum;
      if (lse !== null) lse[h * T + t] = max + Math.log(sum);
    }
  }
}

/**
 * Paged decode: gathers each row's keys and values through its page table (only those in its
 * window: earlier table entries are not read), then attention_fwd_f32 with T = 1.
 */
export function attention_decode_paged_f32(
  out: Float32Array, q: Float32Array, kPool: Float32Array, vPool: Float32Array, pages: Int32Array, pageStart: Int32Array, pos: Int32Array,
  rows: number, H: number, Hkv: number, Dh: number, pageRows: number, scale: number, window: number, softcap: number,
): void {
  const op = 'attention_decode_paged_f32';
  if (!Number.isInteger(pageRows) || pageRows < 16 || pageRows % 16 !== 0) throw new RangeError(`[${op}] page_rows must be a positive multiple of 16, got ${pageRows}`);
  checkOptions(op, window, softcap);
  const R = Hkv * Dh, poolPages = Math.floor(kPool.length / (pageRows * R));
  for (let r = 0; r < rows; r++) {
    const S = pos[r] + 1, k = new Float32Array(S * R), v = new Float32Array(S * R);
    for (let j = firstKey(pos[r], window); j < S; j++) {
      const page = pages[pageStart[r] + Math.floor(j / pageRows)];
      if (!(page >= 0 && page < poolPages)) throw new RangeError(`[${op}] row ${r}: page ${page} outside the pool's ${poolPages} pages`);
      const src = (page * pageRows + (j % pageRows)) * R;
      k.set(kPool.subarray(src, src + R), j * R);
      v.set(vPool.subarray(src, src + R), j * R);
    }
    const n = H * Dh;
    attention_fwd_f32(out.subarray(r * n, (r + 1) * n), null, q.subarray(r * n, (r + 1) * n), k, v, 1, S, H, Hkv, Dh, pos[r], scale, window, softcap);
  }
}

/**
 * With p_j = exp(s_j − lse), D = dout·out, ds_j = p_j·(dout·v_j − D)·(1 − (s_j/softcap)²) (the last
 * factor, tanh's derivative, only with a softcap): dq = scale·Σ_j ds_j·k_j (overwritten);
 * dk_j += scale·ds_j·q; dv_j += p_j·dout (accumulated), over the keys j the query sees.
 */
export function attention_bwd_f32(
  dq: Float32Array, dk: Float32Array, dv: Float32Array, dout: Float32Array,
  q: Float32Array, k: Float32Array, v: Float32Array, out: Float32Array, lse: Float32Array,
  T: number, S: number, H: number, Hkv: number, Dh: number, pos0: number, scale: number, window: number, softcap: number,
): void {
  const op = 'attention_bwd_f32';
  checkSizes(op, T, S, H, Hkv, Dh, pos0, scale, window, softcap);
  for (const [name, a] of [['dq', dq], ['dout', dout], ['q', q], ['out', out]] as const) {
    checkArray(op, name, a, T * H * Dh, 'T·H·Dh');
  }
  for (const [name, a] of [['dk', dk], ['dv', dv], ['k', k], ['v', v]] as const) {
    checkArray(op, name, a, S * Hkv * Dh, 'S·Hkv·Dh');
  }
  checkArray(op, 'lse', lse, H * T, 'H·T');
  // dk, dv summed in float64 over every query row, then added once.
  const dk64 = new Float64Array(S * Hkv * Dh);
  const dv64 = new Float64Array(S * Hkv * Dh);
  const dq64 = new Float64Array(Dh);
  for (let t = 0; t < T; t++) {
    for (let h = 0; h < H; h++) {
      const g = Math.floor(h / (H / Hkv));
      const row = (t * H + h) * Dh, j0 = firstKey(pos0 + t, window);
      const s = scores(q, k, t, h, H, Hkv, Dh, pos0, scale, j0, softcap);
      const p = s.map((x) => Math.exp(x - lse[h * T + t]));
      let D = 0;
      for (let d = 0; d < Dh; d++) D += dout[row + d] * out[row + d];
      dq64.fill(0);
      for (let j = 0; j < p.length; j++) {
        const kv = ((j0 + j) * Hkv + g) * Dh;
        let dp = 0;
        for (let d = 0; d < Dh; d++) dp += dout[row + d] * v[kv + d];
        const ds = p[j] * (dp - D) * (softcap > 0 ? 1 - (s[j] / softcap) ** 2 : 1);
        for (let d = 0; d < Dh; d++) {
          dv64[kv + d] += p[j] * dout[row + d];
          dk64[kv + d] += scale * ds * q[row + d];
          dq64[d] += scale * ds * k[kv + d];
        }
      }
      for (let d = 0; d < Dh; d++) dq[row + d] = dq64[d];
    }
  }
  for (let i = 0; i < dk64.length; i++) {
    dk[i] += dk64[i];
    dv[i] += dv64[i];
  }
}
