// Portable SIMD for the CPU kernels' hot loops: one 64-byte vector type per accumulation type
// (GCC/Clang vector extensions) and the per-ISA cloning attribute. Include only from the .cc
// files that hold cloned hot loops.
#pragma once

#include <cstdint>

// NOTE: the library is built for the baseline ISA; functions marked MAGI_CPU_CLONES are compiled
// for AVX-512, AVX2+FMA and the baseline, and the dynamic loader picks the best clone, so one
// binary is both portable and fast.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define MAGI_CPU_CLONES \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define MAGI_CPU_CLONES
#endif

namespace magi::cpu::simd {

template <typename T>
struct VecOf;
template <>
struct VecOf<float> {
  typedef float type __attribute__((vector_size(64)));
};
template <>
struct VecOf<double> {
  typedef double type __attribute__((vector_size(64)));
};
template <>
struct VecOf<int32_t> {
  typedef int32_t type __attribute__((vector_size(64)));
};

/// One 64-byte vector of T; each clone maps it onto its ISA.
template <typename T>
using Vec = typename VecOf<T>::type;

template <typename T>
inline constexpr int kWidth = 64 / static_cast<int>(sizeof(T));

// NOTE: loads and stores go through memcpy (unaligned, no aliasing assumptions) and vectors are
// passed by reference, so no vector crosses a function boundary by value (-Wpsabi).
template <typename T>
[[gnu::always_inline]] inline void load(Vec<T>& v, const T* p) {
  __builtin_memcpy(&v, p, sizeof(v));
}
template <typename T>
[[gnu::always_inline]] inline void store(T* p, const Vec<T>& v) {
  __builtin_memcpy(p, &v, sizeof(v));
}

/// x = exp(x) lane-wise, inputs clamped to [-87, 88] (results about 1.6e-38 .. 1.7e38).
/// Cody-Waite reduction by ln 2 and a degree-5 minimax polynomial (the Cephes expf one):
/// about 1 ulp of error.
[[gnu::always_inline]] inline void exp_inplace(Vec<float>& x) {
  const Vec<float> zero = {};
  const Vec<float> lo = zero - 87.0f, hi = zero + 88.0f;
  x = x < lo ? lo : x;
  x = x > hi ? hi : x;
  // NOTE: adding 1.5 * 2^23 rounds x * log2(e) to the nearest integer, held in the low mantissa
  // bits of t; subtracting it back gives the integer as a float.
  const float kMagic = 12582912.0f;
  const Vec<float> t = x * 1.44269504088896341f + kMagic;
  const Vec<float> n = t - kMagic;
  const Vec<float> r = x - n * 0.693359375f - n * -2.12194440e-4f;
  Vec<float> p = r * 1.9875691500e-4f + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * (r * r) + r + 1.0f;
  const Vec<int32_t> bits = ((Vec<int32_t>)t - (Vec<int32_t>)(zero + kMagic) + 127) << 23;
  x = p * (Vec<float>)bits;
}

}  // namespace magi::cpu::simd
