// The attention variant's arguments, read the same way by attention.cpp and the fused layers
// (decode_layer.cpp, batch_layer.cpp). window: any non-negative integer (0: none). softcap: 0
// (none) or a positive normal float, so that 1/softcap is finite.
#pragma once
#include <cfloat>
#include <cstdint>

#include "check.h"

namespace rrt {

inline int64_t check_window(const Args& a, size_t i) { return a.size(i, "window"); }

inline float check_softcap(const Args& a, size_t i) {
  const double c = a.number(i, "softcap");
  if (c < 0) a.range_error("softcap must be ≥ 0 (0: no capping), got %g", c);
  if (c > 0 && (c < FLT_MIN || c > FLT_MAX)) a.range_error("softcap %g does not fit a normal float", c);
  return (float)c;
}

}  // namespace rrt
