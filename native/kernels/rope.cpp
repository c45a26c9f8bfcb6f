// Rotary position embeddings, in place on x (T, H, Dh), f32. Contract: src/tensor/kernels.ts.
// The angle is pos[t]·invFreq[i] rounded to fp32 and cos/sin are taken in fp32,
// as HF computes `freqs = inv_freq.float() @ position_ids.float()` then emb.cos()/sin().
// Pair i (of rotDim/2) rotates (x[i], x[i+rotDim/2]) (HF rotate_half) or
// (x[2i], x[2i+1]) (interleaved: Meta, llama2.c, GGUF); dims ≥ rotDim pass through.
// inverse=1 rotates by −θ, the exact backward. Legend: pos (T); invFreq (rotDim/2).
#include <cmath>
#include <vector>

#include "check.h"
#include "fused.h"
#include "registry.h"
#include "rope.h"

namespace rrt {

static Napi::Value js_rope_f32(const Napi::CallbackInfo& info) {
  Args a(info, "rope_f32", 9);
  int64_t T = a.size(3, "T"), H = a.size(4, "H"), Dh = a.size(5, "Dh");
  int64_t rot_dim = a.size(6, "rotDim");
  bool interleaved = a.flag(7, "interleaved");
  bool inverse = a.flag(8, "inverse");
  if (rot_dim % 2 != 0) a.range_error("rotDim must be even, got %lld", (long long)rot_dim);
  if (rot_dim > Dh) a.range_error("rotDim %lld exceeds the head dim Dh = %lld", (long long)rot_dim, (long long)Dh);
  const int64_t half = rot_dim / 2;
  int64_t n = a.mul(T, H, Dh);
  float* x = a.f32(0, "x", n, "T·H·Dh");
  const int32_t* pos = a.i32(1, "pos", T, "T");
  const float* inv_freq = a.f32(2, "invFreq", half, "rotDim/2");
  check_disjoint(a, {{x, n, "x"}}, {{pos, T, "pos"}, {inv_freq, half, "invFreq"}});
  if (half == 0) return info.Env().Undefined();
#pragma omp parallel if (n > kParallelMin)
  {
    std::vector<float> cs(half), sn(half);
#pragma omp for schedule(static)
    for (int64_t t = 0; t < T; t++) {
      rope_angles(cs.data(), sn.data(), pos[t], inv_freq, half, inverse);
      for (int64_t h = 0; h < H; h++) rope_head(x + (t * H + h) * Dh, cs.data(), sn.data(), half, interleaved);
    }
  }
  return info.Env().Undefined();
}

RRT_EXPORT("rope_f32", js_rope_f32);

}  // namespace rrt
