// decode_layer_f32: one llama-style decoder block for one token of one sequence in one call (contract:
// src/tensor/kernels.ts, NativeAddon). It runs the same row, GEMV, rotary and attention routines as
// the composed kernels (rmsnorm_fwd_f32, linear_bf16w / gemm_f32, add_bias_f32, rope_f32,
// attention_fwd_f32, glu_fwd_f32, add_f32), so the results are the same bits; it saves their per-op
// cost. Norm placements (models/layer.ts): before each sublayer (llama), after it, before the residual
// add (OLMo-2), or both (Gemma 2/3); RMSNorms of q and k before the rotary, over each head (Qwen3,
// Gemma 3) or over the whole projection (OLMo-2). Attention may have a sliding window and a logit
// soft-cap (Gemma 2/3; the caller passes the depth's window and rotary frequencies). Legend: D model
// dim, H/Hkv heads, Dh head dim, F FFN dim, qd = H·Dh, kvd = Hkv·Dh.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <new>

#include "activation.h"
#include "check.h"
#include "fused.h"
#include "gemm/gemm.h"
#include "kernels/layer_proj.h"
#include "kernels/attention.h"
#include "kernels/attention_args.h"
#include "norm.h"
#include "registry.h"
#include "scratch.h"
#include "rope.h"

namespace rrt {

namespace {

using layer::Gemv;
using layer::Input;
using layer::Proj;

// Everything one call needs, validated.
struct Layer : layer::Shape {
  float *y, *kc, *vc;  // y (D); caches (≥ pos+1, Hkv, Dh), row pos written
  const float *x, *inv_freq;
  const float *attn_norm, *mlp_norm;            // (D) or null: the norms of the sublayers' inputs
  const float *post_attn_norm, *post_mlp_norm;  // (D) or null: the norms of their outputs
  const float *q_norm, *k_norm;  // null, or the RMSNorm of q / k before the rotary: (Dh), each head;
  bool q_whole, k_whole;         // (qd) / (kvd), the whole projection
  Proj q, k, v, o, gate, up, down;
  int64_t pos, window;  // window: 0 (none) or the keys a query sees, itself included
  float softcap;        // 0 (none) or the logit soft-cap
};

// Owned by the calling thread and shared by the region's threads.
thread_local AlignedScratch t_scratch;

// Below this many multiply-adds a layer runs on the calling thread: the region's fork and four
// barriers cost ~20 µs on this VM with passive waiting.
constexpr double kMinParallelMacs = 1 << 20;

// One parallel region, five phases split by barriers; what needs a whole vector (the norms) each
// thread computes for itself rather than wait for one thread to share it.
void run(const Layer& L) {
  const int64_t D = L.D, H = L.H, Hkv = L.Hkv, Dh = L.Dh, F = L.F, qd = H * Dh, kvd = Hkv * Dh;
  const int64_t S = L.pos + 1;
  const double macs = (double)D * (2 * qd + 2 * kvd + 3 * F) + 2.0 * H * S * Dh;
  const int nt = macs < kMinParallelMacs ? 1 : omp_get_max_threads();

  // shared: q (qd), att (qd), o (D), x1 (D), gate (F), up (F), m (D); per thread: h (D), its own x1
  // (D) after a post-attention norm, cos/sin, attention, and the bf16 copy of the current projection
  // input (max(D, qd, F) halves)
  const int64_t shared = 2 * qd + 3 * D + 2 * F;
  const int64_t widest = std::max(std::max(D, qd), F);
  int64_t rank = 0;  // the widest adapter's
  bool any_bf16 = false, any_q = false;
  for (const Proj* p : {&L.q, &L.k, &L.v, &L.o, &L.gate, &L.up, &L.down}) {
    rank = std::max(rank, p->la ? p->r : 0);
    any_bf16 |= p->bf16 || (p->la && p->la_bf16);
    any_q |= p->qtype != 0;
  }
  const int64_t q8_floats = any_q ? (layer::q8_bytes(1, widest) + 3) / 4 : 0;
  const int64_t own = (2 * D + 2 * L.half + attn_decode_scratch_floats(S, Dh) + (widest + 1) / 2 + rank + (rank + 1) / 2 + q8_floats + 15) / 16 * 16;
  float* buf = (float*)t_scratch.get((size_t)(shared + own * nt) * sizeof(float));
  float *q = buf, *att = q + qd, *o = att + qd, *x1 = o + D, *gate = x1 + D, *up = gate + F, *m = up + F;
  float* krow = L.kc + L.pos * kvd;
  float* vrow = L.vc + L.pos * kvd;
  AttnProblem ap{};
  ap.q = q, ap.k = L.kc, ap.v = L.vc, ap.T = 1, ap.H = H, ap.Hkv = Hkv, ap.Dh = Dh, ap.pos0 = L.pos, ap.scale = L.scale;
  ap.window = L.window, ap.softcap = L.softcap;

#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    const int t = omp_get_thread_num(), n = omp_get_num_threads();
    float* h = buf + shared + own * t;
    float *own_x1 = h + D, *cs = own_x1 + D, *sn = cs + L.half, *attn_scratch = sn + L.half;
    uint16_t* own_bf16 = (uint16_t*)(attn_scratch + attn_decode_scratch_floats(S, Dh));
    float* lora_t = (float*)(own_bf16 + (widest + 1) / 2 * 2);
    void* own_q8 = lora_t + rank + (rank + 1) / 2;
    const Gemv g{gemm::active_gemv_f32(), gemm::active_gemv_bf16(), quant::active_qgemv(), lora_t, (uint16_t*)(lora_t + rank)};
    // each thread rounds (quantizes) the whole vector for itself (at most F values) rather than wait for one
    const auto input = [&](const float* v, int64_t len) {
      if (any_bf16) gemm::f32_to_bf16_n(own_bf16, v, len);
      Input in{v, own_bf16};
      if (any_q) in.q8 = layer::quantize_input(own_q8, v, 1, len);
      return in;
    };
    int64_t n0, n1;

    // attention norm (every thread its own copy), then q, k, v in units of whole heads so each
    // thread norms and rotates the heads it computed; k and v go straight into the cache row
    if (L.attn_norm) rmsnorm_row(h, L.x, L.attn_norm, D, L.eps, L.plus_one);
    const Input hin = input(L.attn_norm ? h : L.x, D);
    if (L.half > 0) rope_angles(cs, sn, (int32_t)L.pos, L.inv_freq, L.half, false);
    const int64_t units = H + 2 * Hkv, u0 = units * t / n, u1 = units * (t + 1) / n;
    const auto clip = [&](int64_t lo, int64_t hi, int64_t* a, int64_t* b) {
      *a = std::max(u0, lo) - lo;
      *b = std::max(std::min(u1, hi) - lo, *a);
    };
    const auto head = [&](float* xh, const float* norm) {
      if (norm) rmsnorm_row(xh, xh, norm, Dh, L.eps, L.plus_one);
      if (L.half > 0) rope_head(xh, cs, sn, L.half, L.interleaved);
    };
    int64_t a, b;
    clip(0, H, &a, &b);
    layer::proj_rows(L.q, q, hin, 1, a * Dh, b * Dh, g);
    if (!L.q_whole)
      for (int64_t u = a; u < b; u++) head(q + u * Dh, L.q_norm);
    clip(H, H + Hkv, &a, &b);
    layer::proj_rows(L.k, krow, hin, 1, a * Dh, b * Dh, g);
    if (!L.k_whole)
      for (int64_t u = a; u < b; u++) head(krow + u * Dh, L.k_norm);
    clip(H + Hkv, units, &a, &b);
    layer::proj_rows(L.v, vrow, hin, 1, a * Dh, b * Dh, g);
#pragma omp barrier

    // a norm over the whole projection needs all its heads: one thread norms (a few thousand
    // values), then each rotates the heads it computed
    if (L.q_whole || L.k_whole) {
#pragma omp single
      {
        if (L.q_whole) rmsnorm_row(q, q, L.q_norm, qd, L.eps, L.plus_one);
        if (L.k_whole) rmsnorm_row(krow, krow, L.k_norm, kvd, L.eps, L.plus_one);
      }
      clip(0, H, &a, &b);
      for (int64_t u = a; u < b && L.q_whole; u++) head(q + u * Dh, nullptr);
      clip(H, H + Hkv, &a, &b);
      for (int64_t u = a; u < b && L.k_whole; u++) head(krow + u * Dh, nullptr);
#pragma omp barrier
    }

    // attention over the cache, split by query heads
    attention_decode_heads(att, nullptr, ap, H * t / n, H * (t + 1) / n, attn_scratch);
#pragma omp barrier

    // output projection and residual: x1 = x + o (+ norm(o) after a post-attention norm, below)
    gemm::gemv_slice(D, t, n, &n0, &n1);
    layer::proj_rows(L.o, o, input(att, qd), 1, n0, n1, g);
    for (int64_t i = n0; i < n1 && !L.post_attn_norm; i++) x1[i] = L.x[i] + o[i];
#pragma omp barrier

    // a post-attention norm needs the whole o: every thread norms it and forms x1 for itself
    const float* xa = x1;  // the residual stream after attention
    if (L.post_attn_norm) {
      rmsnorm_row(h, o, L.post_attn_norm, D, L.eps, L.plus_one);
      for (int64_t i = 0; i < D; i++) own_x1[i] = L.x[i] + h[i];
      xa = own_x1;
    }

    // MLP norm (own copy), gate and up on the same rows, act(gate)·up in place; without a norm
    // the MLP reads x1 (models/layer.ts: parallel residual reads x through the norm only)
    if (L.mlp_norm) rmsnorm_row(h, L.parallel_residual ? L.x : xa, L.mlp_norm, D, L.eps, L.plus_one);
    const Input hmlp = input(L.mlp_norm ? h : xa, D);
    gemm::gemv_slice(F, t, n, &n0, &n1);
    layer::proj_rows(L.gate, gate, hmlp, 1, n0, n1, g);
    layer::proj_rows(L.up, up, hmlp, 1, n0, n1, g);
    glu_range(L.act, gate, gate, up, n0, n1);
#pragma omp barrier

    // down projection and residual: y = x1 + m, or x1 + norm(m) once every thread's m is done
    gemm::gemv_slice(D, t, n, &n0, &n1);
    layer::proj_rows(L.down, m, input(gate, F), 1, n0, n1, g);
    const float* mo = m;
    if (L.post_mlp_norm) {
#pragma omp barrier
      rmsnorm_row(h, m, L.post_mlp_norm, D, L.eps, L.plus_one);
      mo = h;
    }
    for (int64_t i = n0; i < n1; i++) L.y[i] = xa[i] + mo[i];
  }
}

}  // namespace

// decode_layer_f32(y, kCache, vCache, x, attnNorm, wq, wk, wv, wo, mlpNorm, wgate, wup, wdown,
//                  bq, bk, bv, bo, bgate, bup, bdown, invFreq,
//                  D, H, Hkv, Dh, F, pos, rotDim, interleaved, eps, plusOne, act, parallelResidual, scale,
//                  adapters, qtypes, qNorm, kNorm, postAttnNorm, postMlpNorm, window, softcap)
static Napi::Value js_decode_layer_f32(const Napi::CallbackInfo& info) {
  Args a(info, "decode_layer_f32", 42);
  Layer L{};
  static_cast<layer::Shape&>(L) = layer::read_shape(a, 21, 27);
  L.pos = a.integer(26, "pos", 0, INT32_MAX);  // positions travel as int32, as in rope_f32

  const int64_t D = L.D, F = L.F, qd = a.mul(L.H, L.Dh), kvd = a.mul(L.Hkv, L.Dh);
  const int64_t cache = a.mul(L.pos + 1, kvd);
  L.y = a.f32(0, "y", D, "D");
  L.kc = a.f32(1, "kCache", cache, "(pos+1)·Hkv·Dh");
  L.vc = a.f32(2, "vCache", cache, "(pos+1)·Hkv·Dh");
  L.x = a.f32(3, "x", D, "D");
  L.attn_norm = a.f32_opt(4, "attnNorm", D, "D");
  L.mlp_norm = a.f32_opt(9, "mlpNorm", D, "D");
  L.post_attn_norm = a.f32_opt(38, "postAttnNorm", D, "D");
  L.post_mlp_norm = a.f32_opt(39, "postMlpNorm", D, "D");
  L.window = check_window(a, 40);
  L.softcap = check_softcap(a, 41);
  Proj* projs[7] = {&L.q, &L.k, &L.v, &L.o, &L.gate, &L.up, &L.down};
  int qtypes[7];
  layer::read_qtypes(a, info, 35, qtypes);
  layer::read_projections(a, info, {5, 6, 7, 8, 10, 11, 12}, 13, L, qtypes, projs);
  L.inv_freq = a.f32(20, "invFreq", L.half, "rotDim/2");
  layer::lora_factors(a, info[34], projs);
  L.q_norm = layer::qk_norm(a, info[36], "qNorm", L.Dh, L.H, &L.q_whole);
  L.k_norm = layer::qk_norm(a, info[37], "kNorm", L.Dh, L.Hkv, &L.k_whole);

  check_disjoint(a, {{L.y, D, "y"}, {L.kc, cache, "kCache"}, {L.vc, cache, "vCache"}},
                 {{L.x, D, "x"}, {L.attn_norm, L.attn_norm ? D : 0, "attnNorm"}, {L.mlp_norm, L.mlp_norm ? D : 0, "mlpNorm"},
                  {L.post_attn_norm, L.post_attn_norm ? D : 0, "postAttnNorm"}, {L.post_mlp_norm, L.post_mlp_norm ? D : 0, "postMlpNorm"},
                  {L.inv_freq, L.half, "invFreq"},
                  {L.q_norm, L.q_norm ? (L.q_whole ? qd : L.Dh) : 0, "qNorm"}, {L.k_norm, L.k_norm ? (L.k_whole ? kvd : L.Dh) : 0, "kNorm"},
                  layer::weight_span(L.q, "wq"), layer::weight_span(L.k, "wk"), layer::weight_span(L.v, "wv"), layer::weight_span(L.o, "wo"),
                  layer::weight_span(L.gate, "wgate"), layer::weight_span(L.up, "wup"), layer::weight_span(L.down, "wdown"),
                  {L.q.b, L.q.b ? qd : 0, "bq"}, {L.k.b, L.k.b ? kvd : 0, "bk"}, {L.v.b, L.v.b ? kvd : 0, "bv"},
                  {L.o.b, L.o.b ? D : 0, "bo"}, {L.gate.b, L.gate.b ? F : 0, "bgate"}, {L.up.b, L.up.b ? F : 0, "bup"},
                  {L.down.b, L.down.b ? D : 0, "bdown"}});
  for (const Proj* p : projs)
    if (p->la)
      check_disjoint(a, {{L.y, D, "y"}, {L.kc, cache, "kCache"}, {L.vc, cache, "vCache"}},
                     {layer::matrix_span(p->la, p->la_bf16, p->r * p->K, "an adapter"),
                      layer::matrix_span(p->lb, p->lb_bf16, p->N * p->r, "an adapter")});
  try {
    run(L);
  } catch (const std::bad_alloc&) {
    throw Napi::Error::New(info.Env(), "[decode_layer_f32] out of memory for scratch");
  }
  return info.Env().Undefined();
}

RRT_EXPORT("decode_layer_f32", js_decode_layer_f32);

}  // namespace rrt
