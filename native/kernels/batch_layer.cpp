// batch_layer_f32: one llama-style decoder layer over a serving step's rows in one call (contract:
// src/tensor/kernels.ts). The rows come in groups, each group running one unrolled depth of a
// recursive model: the groups share the layer's weights (one GEMV over all rows per projection)
// and each has its own norms and LoRA adapters. The first groups hold decode rows (one token
// each: norm, q/k/v, rotary, KV write, paged attention, o, MLP); the rest hold fill rows, which
// only get keys and values (the propagate fill of loops an exited token skipped). It runs the
// routines of the composed ops (BatchForward's norm, GEMV, LoRA, rope_f32, scatter_rows_f32,
// attention_decode_paged_f32, glu_fwd_f32, add_f32 calls), so each row gets the same bits; it
// saves their per-call cost: one parallel region with barriers instead of ~25 forks per layer.
// Norms sit as in decode_layer_f32 (before and/or after each sublayer; q and k normed per head or
// over the whole projection before the rotary), each group with its own, and so are a depth's
// sliding window and rotary frequencies (Gemma 2/3's layers differ by depth); one logit soft-cap.
// Legend: R rows in all, N decode rows (the first), D model dim, H/Hkv heads, Dh head dim, F FFN
// dim, qd = H·Dh, kvd = Hkv·Dh, P rows per KV page.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <new>
#include <vector>

#include "activation.h"
#include "check.h"
#include "fused.h"
#include "gemm/gemm.h"
#include "kernels/attention.h"
#include "kernels/attention_args.h"
#include "kernels/layer_proj.h"
#include "norm.h"
#include "registry.h"
#include "rope.h"
#include "scratch.h"

namespace rrt {

namespace {

using layer::Gemv;
using layer::Input;
using layer::Proj;

enum { kQ, kK, kV, kO, kGate, kUp, kDown };

// Rows [r0, r1) of the batch run one depth: its norms and its adapters (in proj[i].la/lb).
struct Group {
  int64_t r0, r1;
  const float *attn_norm, *mlp_norm;            // (D) or null; mlp_norm: decode groups only
  const float *post_attn_norm, *post_mlp_norm;  // (D) or null; decode groups only
  const float *q_norm, *k_norm;                 // (Dh, or qd / kvd when whole) or null; q_norm: decode groups only
  const float* inv_freq;                        // (rotDim/2): the depth's rotary frequencies
  int64_t window;                               // 0 (none) or the depth's sliding window; decode groups only
  Proj proj[7];
};

struct Batch : layer::Shape {
  float *y, *k_pool, *v_pool;
  const float *x, *inv_freq;
  Proj proj[7];  // the shared weights and biases, no adapters
  std::vector<Group> groups;
  std::vector<int32_t> group_of;  // per row
  const int32_t *rows_at, *pos, *pages, *page_start;
  int64_t R, N, P, max_pos, max_group_rows, max_rank;
  bool any_bf16, any_q;
  bool q_whole, k_whole;            // q/k norms over the whole projection (every group alike)
  bool post_attn, post_mlp;         // norms after the sublayers (every decode group alike)
  float softcap;                    // 0 (none) or the attention logit soft-cap
};

thread_local AlignedScratch t_scratch;

// Below this many multiply-adds the layer runs on the calling thread, as the composed GEMVs and
// attention would (their own thresholds keep such small work on one thread).
constexpr double kMinParallelMacs = 1 << 20;

// Columns [n0, n1) of projection `which` for rows of every group in [g0, g1): the shared GEMV over
// those rows, then each group's adapter on its own rows.
void project(const Batch& B, int which, float* c, Input a, int64_t K, size_t g0, size_t g1, int64_t n0, int64_t n1,
             const Gemv& g) {
  if (g1 <= g0) return;
  const Proj& shared = B.proj[which];
  const int64_t r0 = B.groups[g0].r0, r1 = B.groups[g1 - 1].r1;
  layer::proj_rows(shared, c + r0 * shared.N, a.rows(r0, K), r1 - r0, n0, n1, g, false);
  for (size_t gi = g0; gi < g1; gi++) {
    const Group& G = B.groups[gi];
    const Proj& p = G.proj[which];
    if (!p.la || G.r1 == G.r0) continue;
    layer::lora_rows(p, c + G.r0 * p.N, a.rows(G.r0, K), G.r1 - G.r0, n0, n1, g);
  }
}

void run(const Batch& B) {
  const int64_t R = B.R, N = B.N, D = B.D, H = B.H, Hkv = B.Hkv, Dh = B.Dh, F = B.F, qd = H * Dh, kvd = Hkv * Dh;
  const size_t nq = std::count_if(B.groups.begin(), B.groups.end(), [&](const Group& G) { return G.r0 < N; });
  const size_t ng = B.groups.size();
  double macs = (double)R * D * 2 * kvd + (double)N * D * (2 * qd + 3 * F);
  for (int64_t r = 0; r < N; r++) macs += 2.0 * H * Dh * (B.pos[r] + 1);
  const int nt = macs < kMinParallelMacs ? 1 : omp_get_max_threads();

  // shared: h (R·D; later the MLP norm's N·D), its bf16 copy, q (N·qd), k, v (R·kvd), the angles
  // (R·2·half), att (N·qd), o (N·D; later the down projection), x1 (N·D), gate, up (N·F), and a
  // bf16 copy of att or act(gate)·up, and for packed weights the quantized copies of h and of
  // att or act(gate)·up; per thread: the attention scores and a LoRA middle
  const int64_t wide = std::max(qd, F);
  const int64_t hq_floats = B.any_q ? (layer::q8_bytes(R, D) + 3) / 4 : 0;
  const int64_t wq_floats = B.any_q ? (layer::q8_bytes(N, wide) + 3) / 4 : 0;
  const int64_t shared = R * D + (R * D + 1) / 2 + N * qd + 2 * R * kvd + 2 * R * B.half + N * qd + 2 * N * D +
                         2 * N * F + (N * wide + 1) / 2 + hq_floats + wq_floats;
  const int64_t lora = B.max_group_rows * B.max_rank;
  const int64_t own = (attn_decode_scratch_floats(B.max_pos + 1, Dh) + lora + (lora + 1) / 2 + 15) / 16 * 16;
  float* buf = (float*)t_scratch.get((size_t)(shared + own * nt) * sizeof(float));
  float* h = buf;
  uint16_t* hb = (uint16_t*)(h + R * D);
  float* q = h + R * D + (R * D + 1) / 2;
  float *k = q + N * qd, *v = k + R * kvd, *cs = v + R * kvd, *sn = cs + R * B.half;
  float *att = sn + R * B.half, *o = att + N * qd, *x1 = o + N * D, *gate = x1 + N * D, *up = gate + N * F;
  uint16_t* wb = (uint16_t*)(up + N * F);
  float* hq = (float*)wb + (N * wide + 1) / 2;
  float* wq = hq + hq_floats;
  // quantized rows land in place, row by row, so each thread quantizes the rows it computed
  const auto q8_rows = [](float* at, int64_t M, int64_t K) {
    char* p = (char*)at;
    return quant::QRows{(int8_t*)p, (float*)(p + M * K), (int32_t*)(p + M * K + 4 * M * (K / quant::kBlock)), M, K};
  };
  const auto quantize_rows = [](const quant::QRows& q, const float* x, int64_t r0, int64_t r1) {
    const int64_t K = q.K, nb = K / quant::kBlock;
    if (r1 > r0) quant::quantize_act((int8_t*)q.q + r0 * K, (float*)q.d + r0 * nb, (int32_t*)q.s + r0 * nb, x + r0 * K, r1 - r0, K);
  };
  Input hin{h, B.any_bf16 ? hb : nullptr};
  if (B.any_q) hin.q8 = q8_rows(hq, R, D);
  Input attin{att, wb}, gatein{gate, wb};
  if (B.any_q) attin.q8 = q8_rows(wq, N, qd), gatein.q8 = q8_rows(wq, N, F);

#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    const int t = omp_get_thread_num(), n = omp_get_num_threads();
    float* scores = buf + shared + own * t;
    float* lora_t = scores + attn_decode_scratch_floats(B.max_pos + 1, Dh);
    const Gemv g{gemm::active_gemv_f32(), gemm::active_gemv_bf16(), quant::active_qgemv(), lora_t, (uint16_t*)(lora_t + lora)};
    const auto rows_of = [&](int64_t rows, int64_t* a, int64_t* b) {
      *a = rows * t / n;
      *b = rows * (t + 1) / n;
    };
    int64_t a, b, n0, n1;

    // attention norm of every row with its group's norm (or the row itself), rounded for bf16
    // matrices; the rotary angles of every row's position
    rows_of(R, &a, &b);
    for (int64_t r = a; r < b; r++) {
      const Group& G = B.groups[B.group_of[r]];
      if (G.attn_norm) rmsnorm_row(h + r * D, B.x + r * D, G.attn_norm, D, B.eps, B.plus_one);
      else std::memcpy(h + r * D, B.x + r * D, D * sizeof(float));
      if (B.any_bf16) gemm::f32_to_bf16_n(hb + r * D, h + r * D, D);
      if (B.any_q) quantize_rows(hin.q8, h, r, r + 1);
      if (B.half > 0) rope_angles(cs + r * B.half, sn + r * B.half, B.pos[r], G.inv_freq, B.half, false);
    }
#pragma omp barrier

    // q of the decode rows, k and v of every row, in units of whole heads so each thread norms and
    // rotates what it computed; k and v then go to the rows' places in the pool. A q head costs N rows, a
    // k or v head R (fill rows too): threads split the units by that weight.
    const int64_t units = H + 2 * Hkv;
    const auto unit_at = [&](int64_t share) {  // the first unit at or past share/n of the weight
      const int64_t want = (H * N + 2 * Hkv * R) * share / n;
      int64_t u = 0;
      for (int64_t w = 0; u < units && w < want; u++) w += u < H ? N : R;
      return u;
    };
    const int64_t u0 = unit_at(t), u1 = unit_at(t + 1);
    const auto clip = [&](int64_t lo, int64_t hi, int64_t* c0, int64_t* c1) {
      *c0 = std::max(u0, lo) - lo;
      *c1 = std::max(std::min(u1, hi) - lo, *c0);
    };
    // heads u in [a, b) of row r of x (its group's norm, if any, then the rotary)
    const auto heads = [&](float* x, int64_t width, int64_t r, const float* norm) {
      for (int64_t u = a; u < b; u++) {
        float* xh = x + r * width + u * Dh;
        if (norm) rmsnorm_row(xh, xh, norm, Dh, B.eps, B.plus_one);
        if (B.half > 0) rope_head(xh, cs + r * B.half, sn + r * B.half, B.half, B.interleaved);
      }
    };
    clip(0, H, &a, &b);
    if (a < b && nq > 0) project(B, kQ, q, hin, D, 0, nq, a * Dh, b * Dh, g);
    for (int64_t r = 0; r < N && !B.q_whole; r++) heads(q, qd, r, B.groups[B.group_of[r]].q_norm);
    clip(H, H + Hkv, &a, &b);
    if (a < b) {
      project(B, kK, k, hin, D, 0, ng, a * Dh, b * Dh, g);
      for (int64_t r = 0; r < R && !B.k_whole; r++) {
        heads(k, kvd, r, B.groups[B.group_of[r]].k_norm);
        std::memcpy(B.k_pool + (int64_t)B.rows_at[r] * kvd + a * Dh, k + r * kvd + a * Dh, (b - a) * Dh * sizeof(float));
      }
    }
    clip(H + Hkv, units, &a, &b);
    if (a < b) {
      project(B, kV, v, hin, D, 0, ng, a * Dh, b * Dh, g);
      for (int64_t r = 0; r < R; r++)
        std::memcpy(B.v_pool + (int64_t)B.rows_at[r] * kvd + a * Dh, v + r * kvd + a * Dh, (b - a) * Dh * sizeof(float));
    }
#pragma omp barrier

    // q/k norms over the whole projection need all its heads: threads take whole rows, norm and
    // rotate them (k then goes to the pool)
    if (B.q_whole || B.k_whole) {
      const auto rotate = [&](float* x, int64_t heads, int64_t r) {
        for (int64_t u = 0; u < heads && B.half > 0; u++) rope_head(x + u * Dh, cs + r * B.half, sn + r * B.half, B.half, B.interleaved);
      };
      rows_of(N, &a, &b);
      for (int64_t r = a; r < b && B.q_whole; r++) {
        rmsnorm_row(q + r * qd, q + r * qd, B.groups[B.group_of[r]].q_norm, qd, B.eps, B.plus_one);
        rotate(q + r * qd, H, r);
      }
      rows_of(R, &a, &b);
      for (int64_t r = a; r < b && B.k_whole; r++) {
        rmsnorm_row(k + r * kvd, k + r * kvd, B.groups[B.group_of[r]].k_norm, kvd, B.eps, B.plus_one);
        rotate(k + r * kvd, Hkv, r);
        std::memcpy(B.k_pool + (int64_t)B.rows_at[r] * kvd, k + r * kvd, kvd * sizeof(float));
      }
#pragma omp barrier
    }

    // attention of each decode row over its pages, (row, head) units split between threads
    for (int64_t w = N * H * t / n, end = N * H * (t + 1) / n; w < end;) {
      const int64_t r = w / H, h0 = w % H, h1 = std::min(H, h0 + (end - w));
      AttnProblem p{};
      p.q = q + r * qd, p.k = B.k_pool, p.v = B.v_pool;
      p.T = 1, p.H = H, p.Hkv = Hkv, p.Dh = Dh, p.pos0 = B.pos[r], p.scale = B.scale;
      p.window = B.groups[B.group_of[r]].window, p.softcap = B.softcap;
      p.pages = B.pages + B.page_start[r], p.page_rows = B.P;
      attention_decode_heads(att + r * qd, nullptr, p, h0, h1, scores);
      w += h1 - h0;
    }
#pragma omp barrier
    rows_of(N, &a, &b);
    if (B.any_bf16) gemm::f32_to_bf16_n(wb + a * qd, att + a * qd, (b - a) * qd);
    if (B.any_q) quantize_rows(attin.q8, att, a, b);
#pragma omp barrier

    // output projection and residual: x1 = x + o (after a post-attention norm: below, by rows)
    gemm::gemv_slice(D, t, n, &n0, &n1);
    project(B, kO, o, attin, qd, 0, nq, n0, n1, g);
    for (int64_t r = 0; r < N && !B.post_attn; r++)
      for (int64_t i = n0; i < n1; i++) x1[r * D + i] = B.x[r * D + i] + o[r * D + i];
#pragma omp barrier

    // x1 = x + norm(o) where the attention has a post norm; MLP norm of the decode rows (into h;
    // without one, x1 itself: models/layer.ts), rounded for bf16 matrices
    rows_of(N, &a, &b);
    for (int64_t r = a; r < b; r++) {
      const Group& G = B.groups[B.group_of[r]];
      if (B.post_attn) {
        rmsnorm_row(o + r * D, o + r * D, G.post_attn_norm, D, B.eps, B.plus_one);
        for (int64_t i = 0; i < D; i++) x1[r * D + i] = B.x[r * D + i] + o[r * D + i];
      }
      if (G.mlp_norm) rmsnorm_row(h + r * D, (B.parallel_residual ? B.x : x1) + r * D, G.mlp_norm, D, B.eps, B.plus_one);
      else std::memcpy(h + r * D, x1 + r * D, D * sizeof(float));
      if (B.any_bf16) gemm::f32_to_bf16_n(hb + r * D, h + r * D, D);
      if (B.any_q) quantize_rows(hin.q8, h, r, r + 1);
    }
#pragma omp barrier

    // gate and up on the same columns, act(gate)·up in place, rounded for the down projection
    gemm::gemv_slice(F, t, n, &n0, &n1);
    project(B, kGate, gate, hin, D, 0, nq, n0, n1, g);
    project(B, kUp, up, hin, D, 0, nq, n0, n1, g);
    for (int64_t r = 0; r < N && n1 > n0; r++) {
      glu_range(B.act, gate + r * F, gate + r * F, up + r * F, n0, n1);
      if (B.any_bf16) gemm::f32_to_bf16_n(wb + r * F + n0, gate + r * F + n0, n1 - n0);
    }
#pragma omp barrier
    if (B.any_q) {  // blocks span the columns of several threads: quantize whole rows once all are done
      rows_of(N, &a, &b);
      quantize_rows(gatein.q8, gate, a, b);
#pragma omp barrier
    }

    // down projection and residual: y = x1 + m, or x1 + norm(m) by rows once all columns are done
    gemm::gemv_slice(D, t, n, &n0, &n1);
    project(B, kDown, o, gatein, F, 0, nq, n0, n1, g);
    for (int64_t r = 0; r < N && !B.post_mlp; r++)
      for (int64_t i = n0; i < n1; i++) B.y[r * D + i] = x1[r * D + i] + o[r * D + i];
    if (B.post_mlp) {
#pragma omp barrier
      rows_of(N, &a, &b);
      for (int64_t r = a; r < b; r++) {
        rmsnorm_row(o + r * D, o + r * D, B.groups[B.group_of[r]].post_mlp_norm, D, B.eps, B.plus_one);
        for (int64_t i = 0; i < D; i++) B.y[r * D + i] = x1[r * D + i] + o[r * D + i];
      }
    }
  }
}

// Element i of a JS Array that must hold a Float32Array of at least `need` values (`size`).
const float* array_f32(const Args& a, const Napi::Array arr, uint32_t i, const char* what, int64_t need, const char* size = "D") {
  const Napi::Value v = arr.Get(i);
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    a.type_error("%s[%u] must be a Float32Array", what, i);
  const Napi::Float32Array f = v.As<Napi::Float32Array>();
  if ((int64_t)f.ElementLength() < need) a.range_error("%s[%u] has %lld elements, expected %s = %lld", what, i, (long long)f.ElementLength(), size, (long long)need);
  return need > 0 ? f.Data() : nullptr;
}

// Element i of a q or k norm list (layer::qk_norm: Dh or heads·Dh values); every entry must norm
// alike, and *whole says how.
const float* array_qk_norm(const Args& a, const Napi::Array arr, uint32_t i, const char* what, int64_t Dh, int64_t heads, bool* whole) {
  char name[32];
  std::snprintf(name, sizeof name, "%s[%u]", what, i);
  const Napi::Value v = arr.Get(i);
  if (v.IsNull() || v.IsUndefined()) a.type_error("%s must be a Float32Array", name);
  bool w;
  const float* p = layer::qk_norm(a, v, name, Dh, heads, &w);
  if (i > 0 && w != *whole) a.range_error("%s norms %s, %s[0] %s", name, w ? "the whole projection" : "each head", what, *whole ? "the whole projection" : "each head");
  *whole = w;
  return p;
}

}  // namespace

// batch_layer_f32(y, x, kPool, vPool, wq, wk, wv, wo, wgate, wup, wdown, bq, bk, bv, bo, bgate, bup, bdown,
//                 invFreq, groupRows, decodeGroups, attnNorms, mlpNorms, adapters,
//                 rowsAt, pos, pages, pageStart, pageRows,
//                 D, H, Hkv, Dh, F, rotDim, interleaved, eps, plusOne, act, parallelResidual, scale, qtypes,
//                 qNorms, kNorms, postAttnNorms, postMlpNorms, windows, invFreqs, softcap)
static Napi::Value js_batch_layer_f32(const Napi::CallbackInfo& info) {
  Args a(info, "batch_layer_f32", 49);
  Batch B{};
  static_cast<layer::Shape&>(B) = layer::read_shape(a, 29, 34);
  const int64_t D = B.D, kvd = a.mul(B.Hkv, B.Dh);

  // the groups: rows per group, the first `decodeGroups` of them decode rows
  const int32_t* group_rows = a.i32(19, "groupRows", 0);
  const int64_t G = a.length(19);
  if (G < 1) a.range_error("groupRows must name at least one group");
  const int64_t nq = a.integer(20, "decodeGroups", 0, G);
  for (int64_t i = 0; i < G; i++) {
    if (group_rows[i] < 0) a.range_error("groupRows[%lld] = %d is negative", (long long)i, group_rows[i]);
    Group gr{};
    gr.r0 = B.R;
    B.R += group_rows[i];
    gr.r1 = B.R;
    if (i < nq) B.N = B.R;
    B.max_group_rows = std::max<int64_t>(B.max_group_rows, group_rows[i]);
    B.groups.push_back(gr);
  }
  if (B.R < 1) a.range_error("the groups hold no rows");

  Proj* const shared_projs[7] = {&B.proj[0], &B.proj[1], &B.proj[2], &B.proj[3], &B.proj[4], &B.proj[5], &B.proj[6]};
  int qtypes[7];
  layer::read_qtypes(a, info, 41, qtypes);
  layer::read_projections(a, info, {4, 5, 6, 7, 8, 9, 10}, 11, B, qtypes, shared_projs);
  B.inv_freq = a.f32(18, "invFreq", B.half, "rotDim/2");

  // per group: norms (each list null where the layer has no such norm: one per group, or per
  // decode group for those only decode rows need) and adapters
  if (!info[23].IsArray() || info[23].As<Napi::Array>().Length() != (uint32_t)G)
    a.type_error("adapters must be an Array of one entry per group (%lld)", (long long)G);
  const Napi::Array adapters = info[23].As<Napi::Array>();
  const auto norm_list = [&](size_t i, const char* name, int64_t n, const char* which) {
    if (info[i].IsNull() || info[i].IsUndefined()) return Napi::Array();
    if (!info[i].IsArray() || info[i].As<Napi::Array>().Length() != (uint32_t)n)
      a.type_error("%s must be null or an Array of one Float32Array per %s (%lld)", name, which, (long long)n);
    return info[i].As<Napi::Array>();
  };
  const Napi::Array attn_norms = norm_list(21, "attnNorms", G, "group"), mlp_norms = norm_list(22, "mlpNorms", nq, "decode group");
  const Napi::Array q_norms = norm_list(42, "qNorms", nq, "decode group"), k_norms = norm_list(43, "kNorms", G, "group");
  const Napi::Array post_attn_norms = norm_list(44, "postAttnNorms", nq, "decode group"), post_mlp_norms = norm_list(45, "postMlpNorms", nq, "decode group");
  B.post_attn = !post_attn_norms.IsEmpty() && nq > 0;
  B.post_mlp = !post_mlp_norms.IsEmpty() && nq > 0;
  // attention variants: windows (null: none) per decode group, rotary frequencies (null: invFreq
  // for all) per group, one soft-cap
  const int32_t* windows = a.i32_opt(46, "windows", nq, "decode groups");
  const Napi::Array inv_freqs = norm_list(47, "invFreqs", G, "group");
  B.softcap = check_softcap(a, 48);
  B.any_bf16 = B.any_q = false;
  for (int i = 0; i < 7; i++) B.any_bf16 |= B.proj[i].bf16, B.any_q |= B.proj[i].qtype != 0;
  std::vector<Span> adapter_spans;
  for (int64_t i = 0; i < G; i++) {
    Group& gr = B.groups[i];
    const bool decode = i < nq;
    gr.attn_norm = !attn_norms.IsEmpty() ? array_f32(a, attn_norms, (uint32_t)i, "attnNorms", D) : nullptr;
    gr.mlp_norm = !mlp_norms.IsEmpty() && decode ? array_f32(a, mlp_norms, (uint32_t)i, "mlpNorms", D) : nullptr;
    gr.post_attn_norm = B.post_attn && decode ? array_f32(a, post_attn_norms, (uint32_t)i, "postAttnNorms", D) : nullptr;
    gr.post_mlp_norm = B.post_mlp && decode ? array_f32(a, post_mlp_norms, (uint32_t)i, "postMlpNorms", D) : nullptr;
    gr.q_norm = !q_norms.IsEmpty() && decode ? array_qk_norm(a, q_norms, (uint32_t)i, "qNorms", B.Dh, B.H, &B.q_whole) : nullptr;
    gr.k_norm = !k_norms.IsEmpty() ? array_qk_norm(a, k_norms, (uint32_t)i, "kNorms", B.Dh, B.Hkv, &B.k_whole) : nullptr;
    gr.inv_freq = !inv_freqs.IsEmpty() ? array_f32(a, inv_freqs, (uint32_t)i, "invFreqs", B.half, "rotDim/2") : B.inv_freq;
    if (windows && decode && windows[i] < 0) a.range_error("windows[%lld] = %d is negative", (long long)i, windows[i]);
    gr.window = windows && decode ? windows[i] : 0;
    for (int j = 0; j < 7; j++) gr.proj[j] = B.proj[j];
    Proj* projs[7] = {&gr.proj[0], &gr.proj[1], &gr.proj[2], &gr.proj[3], &gr.proj[4], &gr.proj[5], &gr.proj[6]};
    layer::lora_factors(a, adapters.Get((uint32_t)i), projs);
    for (const Proj& p : gr.proj)
      if (p.la) {
        B.max_rank = std::max(B.max_rank, p.r);
        B.any_bf16 |= p.la_bf16 || p.lb_bf16;
        adapter_spans.push_back(layer::lora_span_a(p));
        adapter_spans.push_back(layer::lora_span_b(p));
      }
  }
  // the GEMV paths the composed ops take; past them linear_bf16w / gemm_f32 pack, and sum in another
  // order (linear_q has no such limit: every row's columns come from the same kernel)
  bool any_f32 = false;
  for (const Group& gr : B.groups)
    for (const Proj& p : gr.proj) any_f32 |= (!p.bf16 && !p.qtype) || (p.la && (!p.la_bf16 || !p.lb_bf16));
  const int64_t max_rows = any_f32 ? gemm::kGemvMaxRowsF32 : gemm::kGemvMaxRowsBf16;
  if (B.R > max_rows)
    a.range_error("%lld rows: at most %lld (the matrix-vector path of %s matrices)", (long long)B.R, (long long)max_rows,
                  any_f32 ? "f32" : "bf16");

  // rows: their places in the pool and positions; decode rows: their page tables
  B.y = a.f32(0, "y", a.mul(B.N, D), "decode rows·D");
  B.x = a.f32(1, "x", a.mul(B.R, D), "rows·D");
  B.P = a.size(28, "pageRows");
  if (B.P < 16 || B.P % 16 != 0) a.range_error("pageRows must be a positive multiple of 16, got %lld", (long long)B.P);
  B.k_pool = a.f32(2, "kPool", 0);
  const int64_t pool_floats = a.length(2), page_floats = a.mul(B.P, kvd);
  if (pool_floats % page_floats != 0)
    a.range_error("kPool has %lld elements, not a whole number of pages of pageRows·Hkv·Dh = %lld", (long long)pool_floats, (long long)page_floats);
  B.v_pool = a.f32(3, "vPool", pool_floats, "the kPool length");
  if (a.length(3) != pool_floats) a.range_error("vPool has %lld elements, kPool %lld", (long long)a.length(3), (long long)pool_floats);
  const int64_t pool_rows = pool_floats / kvd, pool_pages = pool_floats / page_floats;
  B.rows_at = a.i32(24, "rowsAt", B.R, "rows");
  B.pos = a.i32(25, "pos", B.R, "rows");
  B.pages = a.i32(26, "pages", 0);
  const int64_t n_pages = a.length(26);
  B.page_start = a.i32(27, "pageStart", B.N, "decode rows");
  B.group_of.resize((size_t)B.R);
  for (int64_t i = 0; i < G; i++)
    for (int64_t r = B.groups[i].r0; r < B.groups[i].r1; r++) B.group_of[(size_t)r] = (int32_t)i;
  for (int64_t r = 0; r < B.R; r++) {
    if (B.rows_at[r] < 0 || B.rows_at[r] >= pool_rows)
      a.range_error("rowsAt[%lld] = %d is outside the pool's %lld rows", (long long)r, B.rows_at[r], (long long)pool_rows);
    if (B.pos[r] < 0) a.range_error("pos[%lld] = %d is negative", (long long)r, B.pos[r]);
  }
  for (int64_t r = 0; r < B.N; r++) {
    const int64_t used = ((int64_t)B.pos[r] + B.P) / B.P;  // pages holding positions 0..pos[r]
    if (B.page_start[r] < 0 || B.page_start[r] + used > n_pages)
      a.range_error("row %lld needs pages[%d .. %lld), but pages has %lld entries", (long long)r, B.page_start[r],
                    (long long)(B.page_start[r] + used), (long long)n_pages);
    // pages wholly before the row's window are neither read nor checked (the pool may have freed them)
    for (int64_t i = attn_first_key(B.pos[r], B.groups[B.group_of[r]].window) / B.P; i < used; i++) {
      const int32_t pg = B.pages[B.page_start[r] + i];
      if (pg < 0 || pg >= pool_pages) a.range_error("row %lld: page %d outside the pool's %lld pages", (long long)r, pg, (long long)pool_pages);
    }
    B.max_pos = std::max<int64_t>(B.max_pos, B.pos[r]);
  }

  // outputs (y, the pools) disjoint from each other and from everything read
  const Span outs[3] = {{B.y, B.N * D, "y"}, {B.k_pool, pool_floats, "kPool"}, {B.v_pool, pool_floats, "vPool"}};
  std::vector<Span> ins = {{B.x, B.R * D, "x"}, {B.inv_freq, B.half, "invFreq"}, {B.rows_at, B.R, "rowsAt"}, {B.pos, B.R, "pos"},
                           {B.pages, n_pages, "pages"}, {B.page_start, B.N, "pageStart"}};
  for (int i = 0; i < 7; i++) {
    ins.push_back(layer::weight_span(B.proj[i], layer::kProjNames[i]));
    if (B.proj[i].b) ins.push_back({B.proj[i].b, B.proj[i].N, layer::kBiasNames[i]});
  }
  for (const Group& gr : B.groups) {
    if (gr.attn_norm) ins.push_back({gr.attn_norm, D, "attnNorms"});
    if (gr.mlp_norm) ins.push_back({gr.mlp_norm, D, "mlpNorms"});
    if (gr.post_attn_norm) ins.push_back({gr.post_attn_norm, D, "postAttnNorms"});
    if (gr.post_mlp_norm) ins.push_back({gr.post_mlp_norm, D, "postMlpNorms"});
    if (gr.q_norm) ins.push_back({gr.q_norm, B.q_whole ? a.mul(B.H, B.Dh) : B.Dh, "qNorms"});
    if (gr.k_norm) ins.push_back({gr.k_norm, B.k_whole ? kvd : B.Dh, "kNorms"});
    if (gr.inv_freq != B.inv_freq) ins.push_back({gr.inv_freq, B.half, "invFreqs"});
  }
  ins.insert(ins.end(), adapter_spans.begin(), adapter_spans.end());
  for (int i = 0; i < 3; i++) {
    for (int j = i + 1; j < 3; j++) a.no_overlap(outs[i].p, outs[i].bytes, outs[i].name, outs[j].p, outs[j].bytes, outs[j].name);
    for (const Span& s : ins)
      if (s.p && s.bytes) a.no_overlap(outs[i].p, outs[i].bytes, outs[i].name, s.p, s.bytes, s.name);
  }
  try {
    run(B);
  } catch (const std::bad_alloc&) {
    throw Napi::Error::New(info.Env(), "[batch_layer_f32] out of memory for scratch");
  }
  return info.Env().Undefined();
}

RRT_EXPORT("batch_layer_f32", js_batch_layer_f32);

}  // namespace rrt
