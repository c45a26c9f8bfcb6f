// A grow-only, 64-byte-aligned scratch buffer, meant to be thread_local: repeated calls reuse it
// instead of page-faulting fresh allocations. Portable translation units only (not ISA files).
#pragma once
#include <cstddef>
#include <cstdlib>
#include <new>

namespace rrt {

struct AlignedScratch {
  void* p = nullptr;
  size_t bytes = 0;
  AlignedScratch() = default;
  AlignedScratch(const AlignedScratch&) = delete;
  AlignedScratch& operator=(const AlignedScratch&) = delete;
  ~AlignedScratch() { std::free(p); }
  void* get(size_t need) {
    if (need > bytes) {
      std::free(p);
      p = std::aligned_alloc(64, (need + 63) / 64 * 64);
      if (!p) {
        bytes = 0;
        throw std::bad_alloc();
      }
      bytes = need;
    }
    return p;
  }
};

}  // namespace rrt
