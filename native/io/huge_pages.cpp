// Weight memory on 2 MB pages. alloc_huge_pages(bytes) → a zeroed ArrayBuffer on an anonymous
// mapping aligned to 2 MB and advised MADV_HUGEPAGE before its first touch, so the kernel can
// back it with transparent huge pages (this VM's THP mode is "madvise": nothing else gets them).
// Why: decoding streams every weight once per token, and with 4 KB pages one thread read DRAM at
// 16-18 GB/s, with 2 MB pages at 25-27 GB/s (measured, 128 MB buffer, 1-56 MB chunks): fewer TLB
// walks, and the hardware prefetcher is not stopped at every 4 KB page boundary. Where the advice
// is refused (other kernels, THP off) the buffer still works, on small pages. The mapping is
// unmapped when the ArrayBuffer is collected.
#include <sys/mman.h>

#include <cstdint>

#include "check.h"
#include "registry.h"

namespace rrt {

constexpr size_t kHugePage = size_t(2) << 20;
// Node 20's N-API fails to create an external ArrayBuffer past 4 GiB, and on that failure path
// frees its finalizer data twice (measured: abort, "double free detected"); callers split larger
// arenas (src/tensor/huge-pages.ts)
constexpr double kMaxArenaBytes = 4294967296.0;

struct HugeMapping {
  void* base;
  size_t len;
};

static void unmap_huge(Napi::Env, void*, HugeMapping* m) {
  munmap(m->base, m->len);
  delete m;
}

static Napi::Value js_alloc_huge_pages(const Napi::CallbackInfo& info) {
  Args a(info, "alloc_huge_pages", 1);
  const double want = a.number(0, "bytes");
  if (!(want >= 1 && want <= kMaxArenaBytes) || want != (double)(int64_t)want)
    a.range_error("bytes must be an integer in [1, 2^32] (one buffer of at most 4 GiB), got %g", want);
  const size_t bytes = (size_t)want;
  const size_t rounded = (bytes + kHugePage - 1) / kHugePage * kHugePage;
  // over-allocate by one huge page, then trim to a 2 MB-aligned start
  const size_t len = rounded + kHugePage;
  void* raw = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) a.range_error("cannot map %zu bytes (out of memory?)", bytes);
  const uintptr_t start = ((uintptr_t)raw + kHugePage - 1) & ~(uintptr_t)(kHugePage - 1);
  const size_t head = start - (uintptr_t)raw, tail = len - head - rounded;
  if (head > 0) munmap(raw, head);
  if (tail > 0) munmap((char*)start + rounded, tail);
#ifdef MADV_HUGEPAGE
  madvise((void*)start, rounded, MADV_HUGEPAGE);  // advice only: refusal leaves small pages
#endif
  Napi::Env env = info.Env();
  auto* m = new HugeMapping{(void*)start, rounded};
  return Napi::ArrayBuffer::New(env, (void*)start, bytes, unmap_huge, m);
}

RRT_EXPORT("alloc_huge_pages", js_alloc_huge_pages);

}  // namespace rrt
