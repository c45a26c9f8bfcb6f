// CPU feature detection and the run-time ISA choice.
// Kernels with SIMD variants switch on active_isa(); a variant is only ever
// chosen when the CPU supports it, so an older CPU never meets an illegal
// instruction. Tests may force a lower level with set_isa().
#pragma once

namespace rrt {

enum class Isa : int { scalar = 0, avx2 = 1, avx512 = 2, avx512bf16 = 3 };

Isa best_isa();                 // what this CPU supports
Isa active_isa();               // what kernels use now (<= best_isa)
bool set_isa(Isa isa);          // false if the CPU lacks it
const char* isa_name(Isa isa);

}  // namespace rrt
