// Helpers shared by the fused element/row kernel files (elementwise, norm, rope,
// activation, softmax, embedding, loss, adamw): the threading threshold, the
// aliasing checks their argument validation uses, and (vecmath.h) a vectorisable fp32 exp.
// Portable code only.
#pragma once
#include <cstdint>
#include <initializer_list>

#include "check.h"
#include "vecmath.h"

namespace rrt {

// Below this many touched elements a kernel stays on one thread: waking the
// OpenMP pool (a few µs) costs more than the work.
constexpr int64_t kParallelMin = 32768;

// The bytes of one argument a kernel touches, for aliasing checks.
struct Span {
  const void* p;
  int64_t bytes;
  const char* name;
  template <typename T>
  Span(const T* ptr, int64_t n, const char* nm) : p(ptr), bytes(n * (int64_t)sizeof(T)), name(nm) {}
};

// Every output must be disjoint from every other output and from every input.
// Null (absent optional) or empty spans are skipped.
inline void check_disjoint(const Args& a, std::initializer_list<Span> outs, std::initializer_list<Span> ins) {
  for (auto o = outs.begin(); o != outs.end(); ++o) {
    if (!o->p || o->bytes == 0) continue;
    for (auto q = o + 1; q != outs.end(); ++q)
      if (q->p && q->bytes) a.no_overlap(o->p, o->bytes, o->name, q->p, q->bytes, q->name);
    for (const Span& i : ins)
      if (i.p && i.bytes) a.no_overlap(o->p, o->bytes, o->name, i.p, i.bytes, i.name);
  }
}

// Same-index elementwise kernels may run in place: an output may be exactly an
// input (same first element) but must not partially overlap it.
inline void check_same_or_disjoint(const Args& a, const Span& out, const Span& in) {
  if (out.p == in.p || !out.p || !in.p) return;
  a.no_overlap(out.p, out.bytes, out.name, in.p, in.bytes, in.name);
}

}  // namespace rrt
