// Flash-attention block kernels (forward with online softmax; backward in two passes), written
// once with GCC vector extensions and compiled once per ISA: each includer defines RRT_ATTN_NS
// (its own namespace, so no symbol is shared between builds) and RRT_ATTN_LANES (the ISA's
// vector width in floats). A block's query rows are the lanes of one vector `vf`; a key tile's
// scores are stored key-major, s[c][r], so max, sum and rescaling are lane-wise and no T×S
// matrix exists. Register blocks hold 8 accumulators: 8 + 2 registers fit every x86-64 ISA.
// A single query per head (decode_heads) instead puts the head dim in the lanes.
// No includes: the includer brings <cstdint>, <cmath> and attention.h.

#if !defined(RRT_ATTN_NS) || !defined(RRT_ATTN_LANES)
#error "define RRT_ATTN_NS and RRT_ATTN_LANES before including attention_impl.h"
#endif

namespace rrt {
namespace RRT_ATTN_NS {

constexpr int R = RRT_ATTN_LANES;
constexpr int BK = kAttnKeyTile;
constexpr int U = 8;
extern const int lanes = R;
typedef float vf __attribute__((vector_size(R * sizeof(float))));
typedef int32_t vi __attribute__((vector_size(R * sizeof(int32_t))));

static inline vf vload(const float* p) {
  vf v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}
static inline void vstore(float* p, vf v) { __builtin_memcpy(p, &v, sizeof v); }
static inline vf splat(float x) { return vf{} + x; }
static inline vi splat_i(int32_t x) { return vi{} + x; }

// exp(x) for x ≤ 88 (callers pass x ≤ 0 up to rounding): Cephes expf polynomial on x − n·ln2,
// times 2ⁿ built in the exponent bits. x < −87.3, −inf included (masked keys), gives exactly 0.
static inline vf vexp(vf x) {
  const vf lo = splat(-87.3f), hi = splat(88.0f);
  vf xc = x < lo ? lo : x;
  xc = xc > hi ? hi : xc;
  const vf magic = splat(12582912.0f);  // 1.5·2²³: adding it rounds to an integer
  vf n = (xc * 1.44269504088896341f + magic) - magic;
  vf r = xc - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  vf y = splat(1.9875691500e-4f);
  y = y * r + 1.3981999507e-3f;
  y = y * r + 8.3334519073e-3f;
  y = y * r + 4.1665795894e-2f;
  y = y * r + 1.6666665459e-1f;
  y = y * r + 5.0000001201e-1f;
  y = y * r * r + r + 1.0f;
  vi e = (__builtin_convertvector(n, vi) + 127) << 23;
  vf two_n;
  __builtin_memcpy(&two_n, &e, sizeof two_n);
  return x < lo ? vf{} : y * two_n;
}

// tanh(x), Cephes tanhf: an odd polynomial below |x| = 0.625, else ±(1 − 2/(e^{2|x|} + 1)). vexp
// saturates at 88, so a large |x| gives ±1, not NaN.
static inline vf vtanh(vf x) {
  const vf ax = x < 0.0f ? -x : x, z = x * x;
  vf y = splat(-5.70498872745e-3f);
  y = y * z + 2.06390887954e-2f;
  y = y * z - 5.37397155531e-2f;
  y = y * z + 1.33314422036e-1f;
  y = y * z - 3.33332819422e-1f;
  const vf small = y * z * x + x;
  const vf big = 1.0f - 2.0f / (vexp(ax + ax) + 1.0f);
  return ax < 0.625f ? small : x < 0.0f ? -big : big;
}

// Calls fn<Win, Cap>(...) for problem p: a window, a softcap, both or neither. The kernels are
// written once; the plain instantiation compiles to the loops without either feature.
#define RRT_ATTN_BY_MODE(p, fn, ...)                                                                \
  ((p).window > 0 ? ((p).softcap > 0 ? fn<true, true>(__VA_ARGS__) : fn<true, false>(__VA_ARGS__)) \
                  : ((p).softcap > 0 ? fn<false, true>(__VA_ARGS__) : fn<false, false>(__VA_ARGS__)))

// out[i] = Σ_d a[i·lda + d] · b[d], i < n: one vector of lane dot products per key row of a
// (scores S = K·Qᵀ with b = scaled Qᵀ; dP = V·dOᵀ with b = dOᵀ).
static void rows_dot(float* out, const float* a, int64_t lda, const float* b, int64_t n, int64_t Dh) {
  int64_t i = 0;
  for (; i + U <= n; i += U) {
    vf acc[U] = {};
    const float* ai = a + i * lda;
    for (int64_t d = 0; d < Dh; d++) {
      vf bd = vload(b + d * R);
      for (int u = 0; u < U; u++) acc[u] += ai[u * lda + d] * bd;
    }
    for (int u = 0; u < U; u++) vstore(out + (i + u) * R, acc[u]);
  }
  for (; i < n; i++) {
    vf acc = {};
    for (int64_t d = 0; d < Dh; d++) acc += a[i * lda + d] * vload(b + d * R);
    vstore(out + i * R, acc);
  }
}

// out[d] += Σ_c a[c·lda + d] · p[c], d < Dh, c < n: accᵀ += Vᵀ·P (forward) and dQᵀ += Kᵀ·dS.
static void cols_dot_acc(float* out, const float* a, int64_t lda, const float* p, int64_t n, int64_t Dh) {
  int64_t d = 0;
  for (; d + U <= Dh; d += U) {
    vf acc[U];
    for (int u = 0; u < U; u++) acc[u] = vload(out + (d + u) * R);
    for (int64_t c = 0; c < n; c++) {
      vf pc = vload(p + c * R);
      const float* ac = a + c * lda + d;
      for (int u = 0; u < U; u++) acc[u] += ac[u] * pc;
    }
    for (int u = 0; u < U; u++) vstore(out + (d + u) * R, acc[u]);
  }
  for (; d < Dh; d++) {
    vf acc = vload(out + d * R);
    for (int64_t c = 0; c < n; c++) acc += a[c * lda + d] * vload(p + c * R);
    vstore(out + d * R, acc);
  }
}

// Block rows of x (T, H, Dh) times `mul`, transposed: xt[d][r]. Padding lanes are 0.
static void gather_t(float* xt, const float* x, const AttnProblem& p, const AttnBlock& b, float mul) {
  for (int64_t i = 0; i < p.Dh * R; i++) xt[i] = 0.0f;
  for (int64_t ti = 0; ti < b.nt; ti++)
    for (int64_t gi = 0; gi < b.nh; gi++) {
      const float* row = x + ((b.t0 + ti) * p.H + b.h0 + gi) * p.Dh;
      int64_t r = ti * b.nh + gi;
      for (int64_t d = 0; d < p.Dh; d++) xt[d * R + r] = mul * row[d];
    }
}

// Lane r may see key j iff j − (pos0 + t0) ≤ rel[r] = ti; padding lanes see nothing.
static inline vi lane_rel(const AttnBlock& b) {
  vi rel = splat_i(INT32_MIN);
  for (int64_t r = 0; r < b.nt * b.nh; r++) rel[r] = (int32_t)(r / b.nh);
  return rel;
}
static inline vi key_rel(int64_t j, const AttnProblem& p, const AttnBlock& b) {
  int64_t d = j - p.pos0 - b.t0;  // only compared with 0..R−1, so clamping keeps the order
  return splat_i((int32_t)(d < -(1 << 30) ? -(1 << 30) : d));
}
// With a window, lane r also needs j ≥ pos0 + t0 + ti − window + 1, i.e. key_lo(j) ≥ rel[r].
static inline vi key_lo(int64_t j, const AttnProblem& p, const AttnBlock& b) {
  int64_t d = j - (p.pos0 + b.t0 - p.window + 1);  // compared with 0..R−1 only, as in key_rel
  return splat_i((int32_t)(d < -(1 << 30) ? -(1 << 30) : d > (1 << 30) ? (1 << 30) : d));
}
template <bool Win>
static inline vi visible(int64_t j, const AttnProblem& p, const AttnBlock& b, vi rel) {
  vi ok = key_rel(j, p, b) <= rel;
  if constexpr (Win) ok &= key_lo(j, p, b) >= rel;
  return ok;
}

void fwd_begin(const AttnProblem& p, const AttnBlock& b, float* state) {
  float* m = state;              // (R)
  float* l = m + R;              // (R)
  float* acc = l + R;            // (Dh, R)
  float* qt = acc + p.Dh * R;    // (Dh, R)
  vstore(m, splat(-__builtin_inff()));
  vstore(l, vf{});
  for (int64_t i = 0; i < p.Dh * R; i++) acc[i] = 0.0f;
  gather_t(qt, p.q, p, b, p.scale);
}

template <bool Win, bool Cap>
static void fwd_keys_t(const AttnProblem& p, const AttnBlock& b, int64_t jb, int64_t je, float* state, float* s) {
  const int64_t Dh = p.Dh, ld = p.Hkv * Dh, kvh = b.h0 / (p.H / p.Hkv);
  const float* k = p.k + kvh * Dh;
  const float* v = p.v + kvh * Dh;
  float* acc = state + 2 * R;
  const float* qt = acc + Dh * R;
  const vi rel = lane_rel(b);
  const vf ninf = splat(-__builtin_inff());
  const float cap = p.softcap, inv_cap = Cap ? 1.0f / p.softcap : 0.0f;
  vf mv = vload(state), lv = vload(state + R);
  const int64_t jend = je < p.pos0 + b.t0 + b.nt ? je : p.pos0 + b.t0 + b.nt;
  // keys before the window of the block's first query are seen by none of its queries
  const int64_t jlo = Win ? attn_first_key(p.pos0 + b.t0, p.window) : 0;
  for (int64_t jt = jb > jlo ? jb : jlo; jt < jend; jt += BK) {
    const int64_t n = jend - jt < BK ? jend - jt : BK;
    rows_dot(s, k + jt * ld, ld, qt, n, Dh);
    vf mx = mv;
    for (int64_t c = 0; c < n; c++) {
      vf x = vload(s + c * R);
      if constexpr (Cap) x = cap * vtanh(x * inv_cap);
      x = visible<Win>(jt + c, p, b, rel) ? x : ninf;
      vstore(s + c * R, x);
      mx = x > mx ? x : mx;
    }
    // A lane that has seen no key yet keeps max −inf; subtracting 0 instead keeps exp() at 0, not NaN.
    const vf base = mx == ninf ? vf{} : mx;
    const vf alpha = vexp(mv - base);
    vf sum = {};
    for (int64_t c = 0; c < n; c++) {
      vf e = vexp(vload(s + c * R) - base);
      vstore(s + c * R, e);
      sum += e;
    }
    lv = lv * alpha + sum;
    mv = mx;
    for (int64_t d = 0; d < Dh; d++) vstore(acc + d * R, vload(acc + d * R) * alpha);
    cols_dot_acc(acc, v + jt * ld, ld, s, n, Dh);
  }
  vstore(state, mv);
  vstore(state + R, lv);
}

void fwd_keys(const AttnProblem& p, const AttnBlock& b, int64_t jb, int64_t je, float* state, float* s) {
  RRT_ATTN_BY_MODE(p, fwd_keys_t, p, b, jb, je, state, s);
}

// With a softcap, c = cap·tanh(u/cap) of the scaled score u: P = exp(c − lse), and the gradient
// through the cap is dS_u = dS_c·(1 − tanh²).
template <bool Win, bool Cap>
static void bwd_dq_block_t(float* dq, float* rowdot, const AttnProblem& p, const AttnBlock& b, float* scratch) {
  const int64_t Dh = p.Dh, ld = p.Hkv * Dh, kvh = b.h0 / (p.H / p.Hkv);
  const float* k = p.k + kvh * Dh;
  const float* v = p.v + kvh * Dh;
  float* qt = scratch;        // (Dh, R) scale·Qᵀ
  float* dot = qt + Dh * R;   // (Dh, R) dOᵀ
  float* dqt = dot + Dh * R;  // (Dh, R) dQᵀ/scale
  float* s = dqt + Dh * R;    // (BK, R) scores, then P
  float* ds = s + BK * R;     // (BK, R) dP, then dS
  gather_t(qt, p.q, p, b, p.scale);
  gather_t(dot, p.dout, p, b, 1.0f);
  for (int64_t i = 0; i < Dh * R; i++) dqt[i] = 0.0f;
  vf lse = {}, drow = {};  // lse_i and D_i = dO_i·O_i; padding lanes keep 0 and are masked
  for (int64_t ti = 0; ti < b.nt; ti++)
    for (int64_t gi = 0; gi < b.nh; gi++) {
      const int64_t t = b.t0 + ti, h = b.h0 + gi, r = ti * b.nh + gi;
      const float* o = p.out + (t * p.H + h) * Dh;
      const float* g = p.dout + (t * p.H + h) * Dh;
      float sum = 0.0f;
      for (int64_t d = 0; d < Dh; d++) sum += g[d] * o[d];
      rowdot[t * p.H + h] = drow[r] = sum;
      lse[r] = p.lse[h * p.T + t];
    }
  const vi rel = lane_rel(b);
  const float cap = p.softcap, inv_cap = Cap ? 1.0f / p.softcap : 0.0f;
  const int64_t jend = p.pos0 + b.t0 + b.nt;
  for (int64_t jt = Win ? attn_first_key(p.pos0 + b.t0, p.window) : 0; jt < jend; jt += BK) {
    const int64_t n = jend - jt < BK ? jend - jt : BK;
    rows_dot(s, k + jt * ld, ld, qt, n, Dh);
    if constexpr (Cap) {
      rows_dot(ds, v + jt * ld, ld, dot, n, Dh);
      for (int64_t c = 0; c < n; c++) {
        const vf th = vtanh(vload(s + c * R) * inv_cap);
        const vf pr = visible<Win>(jt + c, p, b, rel) ? vexp(cap * th - lse) : vf{};
        vstore(ds + c * R, pr * (vload(ds + c * R) - drow) * (1.0f - th * th));
      }
    } else {
      for (int64_t c = 0; c < n; c++)
        vstore(s + c * R, visible<Win>(jt + c, p, b, rel) ? vexp(vload(s + c * R) - lse) : vf{});
      rows_dot(ds, v + jt * ld, ld, dot, n, Dh);
      for (int64_t c = 0; c < n; c++) vstore(ds + c * R, vload(s + c * R) * (vload(ds + c * R) - drow));
    }
    cols_dot_acc(dqt, k + jt * ld, ld, ds, n, Dh);
  }
  for (int64_t ti = 0; ti < b.nt; ti++)
    for (int64_t gi = 0; gi < b.nh; gi++) {
      float* row = dq + ((b.t0 + ti) * p.H + b.h0 + gi) * Dh;
      const int64_t r = ti * b.nh + gi;
      for (int64_t d = 0; d < Dh; d++) row[d] = p.scale * dqt[d * R + r];
    }
}

void bwd_dq_block(float* dq, float* rowdot, const AttnProblem& p, const AttnBlock& b, float* scratch) {
  RRT_ATTN_BY_MODE(p, bwd_dq_block_t, dq, rowdot, p, b, scratch);
}

template <bool Win, bool Cap>
static void bwd_dkv_block_t(float* dk, float* dv, const float* rowdot, const AttnProblem& p, int64_t kvh, int64_t j0,
                            float* scratch) {
  const int64_t Dh = p.Dh, ld = p.Hkv * Dh, ldq = p.H * Dh, G = p.H / p.Hkv;
  const int64_t nk = p.pos0 + p.T - j0 < R ? p.pos0 + p.T - j0 : R;
  float* kt = scratch;        // (Dh, R) Kᵀ of keys j0..j0+R−1
  float* vt = kt + Dh * R;    // (Dh, R) Vᵀ
  float* dkt = vt + Dh * R;   // (Dh, R) dKᵀ/scale
  float* dvt = dkt + Dh * R;  // (Dh, R) dVᵀ
  float* s = dvt + Dh * R;    // (BK, R) scores, then P, one row per query
  float* ds = s + BK * R;     // (BK, R) dP, then dS
  // With a window, keys before the first query's first key are seen by no query: not read, no gradient.
  const int64_t jlo = Win ? attn_first_key(p.pos0, p.window) : 0, c0 = jlo > j0 ? jlo - j0 : 0;
  for (int64_t i = 0; i < 4 * Dh * R; i++) kt[i] = 0.0f;
  for (int64_t c = c0; c < nk; c++)
    for (int64_t d = 0; d < Dh; d++) {
      kt[d * R + c] = p.k[(j0 + c) * ld + kvh * Dh + d];
      vt[d * R + c] = p.v[(j0 + c) * ld + kvh * Dh + d];
    }
  vi lane = {};
  for (int c = 0; c < R; c++) lane[c] = c;
  // Query t sees key j0+c iff c ≤ pos0 + t − j0: queries before t_first see none of these keys.
  // With a window also iff pos0 + t − (j0+c) < window: queries from t_end on see none of them.
  const int64_t t_first = j0 > p.pos0 ? j0 - p.pos0 : 0;
  int64_t t_end = p.T;
  if constexpr (Win) t_end = j0 + nk - 1 + p.window - p.pos0 < p.T ? j0 + nk - 1 + p.window - p.pos0 : p.T;
  const float cap = p.softcap, inv_cap = Cap ? 1.0f / p.softcap : 0.0f;
  for (int64_t h = kvh * G; h < (kvh + 1) * G; h++)
    for (int64_t t0 = t_first; t0 < t_end; t0 += BK) {
      const int64_t n = t_end - t0 < BK ? t_end - t0 : BK;
      const float* q = p.q + (t0 * p.H + h) * Dh;
      const float* g = p.dout + (t0 * p.H + h) * Dh;
      rows_dot(s, q, ldq, kt, n, Dh);
      rows_dot(ds, g, ldq, vt, n, Dh);
      for (int64_t i = 0; i < n; i++) {
        const int64_t t = t0 + i, lim = p.pos0 + t - j0;
        vi ok = lane <= splat_i((int32_t)(lim < R ? lim : R));
        if constexpr (Win) {
          const int64_t lo = lim - p.window + 1;  // the first lane in query t's window
          ok &= lane >= splat_i((int32_t)(lo < 0 ? 0 : lo > R ? R : lo));
        }
        const vf u = vload(s + i * R) * p.scale;
        if constexpr (Cap) {
          const vf th = vtanh(u * inv_cap);
          const vf pr = ok ? vexp(cap * th - p.lse[h * p.T + t]) : vf{};
          vstore(s + i * R, pr);
          vstore(ds + i * R, pr * (vload(ds + i * R) - rowdot[t * p.H + h]) * (1.0f - th * th));
        } else {
          const vf pr = ok ? vexp(u - p.lse[h * p.T + t]) : vf{};
          vstore(s + i * R, pr);
          vstore(ds + i * R, pr * (vload(ds + i * R) - rowdot[t * p.H + h]));
        }
      }
      cols_dot_acc(dvt, g, ldq, s, n, Dh);
      cols_dot_acc(dkt, q, ldq, ds, n, Dh);
    }
  for (int64_t c = c0; c < nk; c++)
    for (int64_t d = 0; d < Dh; d++) {
      dk[(j0 + c) * ld + kvh * Dh + d] += p.scale * dkt[d * R + c];
      dv[(j0 + c) * ld + kvh * Dh + d] += dvt[d * R + c];
    }
}

void bwd_dkv_block(float* dk, float* dv, const float* rowdot, const AttnProblem& p, int64_t kvh, int64_t j0,
                   float* scratch) {
  RRT_ATTN_BY_MODE(p, bwd_dkv_block_t, dk, dv, rowdot, p, kvh, j0, scratch);
}

// ---- decode: one query per head (T = 1), lanes over the head dim; scores for R keys at a time,
// exact softmax over the materialised scores (S floats), then Σ p·v with the head dim in registers ----

// Lane c of the result is the sum of the lanes of acc[c]: a tree of two-input shuffles that halves
// the lanes per vector at each level (constant masks, so each shuffle is one instruction).
static inline vf sum_lanes_each(const vf* acc) {
#if RRT_ATTN_LANES == 16
  constexpr vi lo1 = {0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23};
  constexpr vi hi1 = lo1 + 8;
  constexpr vi lo2 = {0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27};
  constexpr vi hi2 = lo2 + 4;
  constexpr vi lo3 = {0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29};
  constexpr vi hi3 = lo3 + 2;
  constexpr vi lo4 = {0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30};
  constexpr vi hi4 = lo4 + 1;
  vf a[8], b[4], c[2];
  for (int i = 0; i < 8; i++)
    a[i] = __builtin_shuffle(acc[2 * i], acc[2 * i + 1], lo1) + __builtin_shuffle(acc[2 * i], acc[2 * i + 1], hi1);
  for (int i = 0; i < 4; i++) b[i] = __builtin_shuffle(a[2 * i], a[2 * i + 1], lo2) + __builtin_shuffle(a[2 * i], a[2 * i + 1], hi2);
  for (int i = 0; i < 2; i++) c[i] = __builtin_shuffle(b[2 * i], b[2 * i + 1], lo3) + __builtin_shuffle(b[2 * i], b[2 * i + 1], hi3);
  return __builtin_shuffle(c[0], c[1], lo4) + __builtin_shuffle(c[0], c[1], hi4);
#elif RRT_ATTN_LANES == 8
  constexpr vi lo1 = {0, 1, 2, 3, 8, 9, 10, 11};
  constexpr vi hi1 = lo1 + 4;
  constexpr vi lo2 = {0, 1, 4, 5, 8, 9, 12, 13};
  constexpr vi hi2 = lo2 + 2;
  constexpr vi lo3 = {0, 2, 4, 6, 8, 10, 12, 14};
  constexpr vi hi3 = lo3 + 1;
  vf a[4], b[2];
  for (int i = 0; i < 4; i++)
    a[i] = __builtin_shuffle(acc[2 * i], acc[2 * i + 1], lo1) + __builtin_shuffle(acc[2 * i], acc[2 * i + 1], hi1);
  for (int i = 0; i < 2; i++) b[i] = __builtin_shuffle(a[2 * i], a[2 * i + 1], lo2) + __builtin_shuffle(a[2 * i], a[2 * i + 1], hi2);
  return __builtin_shuffle(b[0], b[1], lo3) + __builtin_shuffle(b[0], b[1], hi3);
#elif RRT_ATTN_LANES == 4
  constexpr vi lo1 = {0, 1, 4, 5};
  constexpr vi hi1 = lo1 + 2;
  constexpr vi lo2 = {0, 2, 4, 6};
  constexpr vi hi2 = lo2 + 1;
  const vf a0 = __builtin_shuffle(acc[0], acc[1], lo1) + __builtin_shuffle(acc[0], acc[1], hi1);
  const vf a1 = __builtin_shuffle(acc[2], acc[3], lo1) + __builtin_shuffle(acc[2], acc[3], hi1);
  return __builtin_shuffle(a0, a1, lo2) + __builtin_shuffle(a0, a1, hi2);
#else
#error "sum_lanes_each: unsupported lane count"
#endif
}

// out[c] = k_c·q for the n ≤ R keys k_c = k + c·ld (R values stored; missing keys give 0): R key
// rows at once, one vector of lane partial sums per key, then one shuffle tree for all of them.
// Full: n == R, so the key loop has a constant trip count and the sums stay in registers.
template <bool Full>
static inline void dot_keys(float* out, const float* k, int64_t ld, const float* q, int64_t Dh, int64_t n) {
  vf acc[R] = {};
  const int64_t dv = Dh / R * R;
  for (int64_t d = 0; d < dv; d += R) {
    const vf qd = vload(q + d);
#pragma GCC unroll 16
    for (int c = 0; c < (Full ? R : n); c++) acc[c] += vload(k + c * ld + d) * qd;
  }
  vstore(out, sum_lanes_each(acc));
  for (int c = 0; c < n; c++)
    for (int64_t d = dv; d < Dh; d++) out[c] += k[c * ld + d] * q[d];
}

// Row j of one head of k or v (base already at the head's offset): contiguous, or through the
// page table of a paged pool (AttnProblem::pages).
static inline const float* kv_row(const float* base, const AttnProblem& p, int64_t j, int64_t ld) {
  return p.pages ? base + ((int64_t)p.pages[j / p.page_rows] * p.page_rows + j % p.page_rows) * ld : base + j * ld;
}

// How many rows from j on are contiguous in memory (to the end of j's page), at most S − j.
static inline int64_t kv_run(const AttnProblem& p, int64_t j, int64_t S) {
  const int64_t left = S - j;
  return p.pages && p.page_rows - j % p.page_rows < left ? p.page_rows - j % p.page_rows : left;
}

// Every cache line of the block of R rows from j (those below S; Dh floats each) of one head of k
// or v, into L1.
static inline void prefetch_block(const float* base, const AttnProblem& p, int64_t j, int64_t S, int64_t ld, int64_t Dh) {
  for (int64_t i = j; i < j + R && i < S; i++) {
    const char* r = (const char*)kv_row(base, p, i, ld);
    for (int64_t b = 0; b < Dh * (int64_t)sizeof(float); b += 64) __builtin_prefetch(r + b, 0, 3);
  }
}

// o[0, NV·R) = inv · Σ_j p[j − jb]·v_j[0, NV·R) over keys jb ≤ j < S, NV vectors held in
// registers; j ascending in runs of contiguous rows, so paged and contiguous storage sum in the
// same order.
template <int NV>
static inline void weigh_rows(float* o, const float* v, int64_t ld, const float* p, int64_t jb, int64_t S, float inv,
                              const AttnProblem& pr) {
  vf acc[NV] = {};
  for (int64_t j0 = jb, n; j0 < S; j0 += n) {
    n = kv_run(pr, j0, S);
    const float* vr = kv_row(v, pr, j0, ld);
    const float* pj = p + (j0 - jb);
    for (int64_t j = 0; j < n; j++)
      for (int u = 0; u < NV; u++) acc[u] += pj[j] * vload(vr + j * ld + u * R);
  }
  for (int u = 0; u < NV; u++) vstore(o + u * R, acc[u] * inv);
}

void decode_heads(float* out, float* lse, const AttnProblem& p, int64_t h0, int64_t h1, float* scratch) {
  const int64_t Dh = p.Dh, ld = p.Hkv * Dh, G = p.H / p.Hkv, S = p.pos0 + 1;
  // Keys jw..pos0 are seen; scoring starts at jw rounded down to a multiple of R (groups of R keys
  // never straddle a page), and the keys below jw in that group are masked.
  const int64_t jw = attn_first_key(p.pos0, p.window), ja = jw / R * R;
  const int64_t n = S - ja, Sp = (n + R - 1) / R * R;
  float* s = scratch;    // (Sp) scores of keys ja.., then probabilities
  float* qs = s + Sp;    // (Dh) scale·q
  const float cap = p.softcap, inv_cap = cap > 0 ? 1.0f / cap : 0.0f;
  for (int64_t h = h0; h < h1; h++) {
    const float* q = p.q + h * Dh;
    const float* k = p.k + h / G * Dh;
    const float* v = p.v + h / G * Dh;
    for (int64_t d = 0; d < Dh; d++) qs[d] = p.scale * q[d];
    // The first head of a kv group finds its keys and values cold (a step's weights have passed
    // through the cache since they were written), and page-strided rows defeat the hardware
    // prefetcher: fetch the next block's keys and this block's values while scoring this one.
    // The group's other heads read them from L1/L2.
    const bool cold = h == h0 || h % G == 0;
    int64_t j = ja;
    if (cold) prefetch_block(k, p, ja, S, ld, Dh);
    for (; j + R <= S; j += R) {
      if (cold) {
        prefetch_block(k, p, j + R, S, ld, Dh);
        prefetch_block(v, p, j, S, ld, Dh);
      }
      dot_keys<true>(s + (j - ja), kv_row(k, p, j, ld), ld, qs, Dh, R);
    }
    if (cold) prefetch_block(v, p, j, S, ld, Dh);
    if (j < S) dot_keys<false>(s + (j - ja), kv_row(k, p, j, ld), ld, qs, Dh, S - j);
    if (cap > 0)  // every vector of s was stored by dot_keys
      for (j = 0; j < Sp; j += R) vstore(s + j, cap * vtanh(vload(s + j) * inv_cap));
    for (j = 0; j < jw - ja; j++) s[j] = -__builtin_inff();  // before the window: exp gives 0
    for (j = n; j < Sp; j++) s[j] = -__builtin_inff();
    vf mv = vload(s);
    for (j = R; j < Sp; j += R) {
      const vf x = vload(s + j);
      mv = x > mv ? x : mv;
    }
    float mx = mv[0];
    for (int i = 1; i < R; i++) mx = mv[i] > mx ? mv[i] : mx;
    vf sum = {};
    for (j = 0; j < Sp; j += R) {
      const vf e = vexp(vload(s + j) - mx);
      vstore(s + j, e);
      sum += e;
    }
    float l = 0.0f;
    for (int i = 0; i < R; i++) l += sum[i];
    const float inv = 1.0f / l;
    float* o = out + h * Dh;
    // o = Σ_j p_j·v_j over keys jw..pos0 (values before the window are not read), as many vectors
    // of the head dim at a time as fit (≥ 4 hide the FMA latency)
    const float* pw = s + (jw - ja);
    int64_t d = 0;
    for (; d + 8 * R <= Dh; d += 8 * R) weigh_rows<8>(o + d, v + d, ld, pw, jw, S, inv, p);
    if (d + 4 * R <= Dh) {
      weigh_rows<4>(o + d, v + d, ld, pw, jw, S, inv, p);
      d += 4 * R;
    }
    if (d + 2 * R <= Dh) {
      weigh_rows<2>(o + d, v + d, ld, pw, jw, S, inv, p);
      d += 2 * R;
    }
    if (d + R <= Dh) {
      weigh_rows<1>(o + d, v + d, ld, pw, jw, S, inv, p);
      d += R;
    }
    for (; d < Dh; d++) {
      float acc = 0.0f;
      for (int64_t j0 = jw, m; j0 < S; j0 += m) {  // in runs, one loop body for both storages (FMA contraction alike)
        m = kv_run(p, j0, S);
        const float* vr = kv_row(v, p, j0, ld);
        const float* pj = pw + (j0 - jw);
        for (int64_t i = 0; i < m; i++) acc += pj[i] * vr[i * ld + d];
      }
      o[d] = acc * inv;
    }
    if (lse) lse[h] = mx + std::log(l);
  }
}

}  // namespace RRT_ATTN_NS
}  // namespace rrt

#undef RRT_ATTN_BY_MODE
