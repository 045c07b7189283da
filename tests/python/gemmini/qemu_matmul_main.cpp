// qemu_matmul_main.cpp - the riscv64 driver of test_gemmini_qemu.py: reads A,
// B, the initial C and the bias from <dir>/{a,b,c,bias}.bin, calls the
// compiled `f` (its C interface, llvm.emit_c_interface), writes C to
// <dir>/out.bin and the Gemmini counters (RoccTrap.h) to stdout.
//
// Built with -DC_ELEM=int8_t|int32_t (C's element type) and -DBIAS_RANK=0|1|2
// (no bias, bias[N], bias[M][N]). Each buffer is registered as a DRAM window,
// so a DMA outside the operands stops the run; -DSHRINK_C_WINDOW registers
// one byte less of C (the test that such a stray write is caught).
#include "RoccTrap.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#ifndef C_ELEM
#define C_ELEM int8_t
#endif
#ifndef BIAS_RANK
#define BIAS_RANK 0
#endif

template <typename T, int N> struct MemRef {
  T *allocated;
  T *aligned;
  int64_t offset;
  int64_t sizes[N];
  int64_t strides[N];
};

template <typename T> MemRef<T, 2> view2(std::vector<T> &v, int64_t rows, int64_t cols) {
  return {v.data(), v.data(), 0, {rows, cols}, {cols, 1}};
}

extern "C" void _mlir_ciface_f(MemRef<int8_t, 2> *a, MemRef<int8_t, 2> *b,
                               MemRef<C_ELEM, 2> *c
#if BIAS_RANK > 0
                               ,
                               MemRef<int32_t, BIAS_RANK> *bias
#endif
);

template <typename T> std::vector<T> load(const std::string &path, size_t n) {
  std::vector<T> v(n);
  FILE *f = std::fopen(path.c_str(), "rb");
  if (!f || std::fread(v.data(), sizeof(T), n, f) != n) {
    std::fprintf(stderr, "cannot read %zu elements from %s\n", n, path.c_str());
    std::exit(2);
  }
  std::fclose(f);
  return v;
}

template <typename T> void registerWindow(const std::vector<T> &v, size_t less = 0) {
  buddy_gemmini_sim_map(v.data(), v.size() * sizeof(T) - less);
}

int main(int argc, char **argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s M N K dir\n", argv[0]);
    return 2;
  }
  const int64_t m = std::atoll(argv[1]), n = std::atoll(argv[2]), k = std::atoll(argv[3]);
  const std::string dir = argv[4];
  auto a = load<int8_t>(dir + "/a.bin", size_t(m * k));
  auto b = load<int8_t>(dir + "/b.bin", size_t(k * n));
  auto c = load<C_ELEM>(dir + "/c.bin", size_t(m * n));
  registerWindow(a);
  registerWindow(b);
#ifdef SHRINK_C_WINDOW
  registerWindow(c, 1);
#else
  registerWindow(c);
#endif
  MemRef<int8_t, 2> ma = view2(a, m, k), mb = view2(b, k, n);
  MemRef<C_ELEM, 2> mc = view2(c, m, n);
#if BIAS_RANK == 0
  _mlir_ciface_f(&ma, &mb, &mc);
#else
  auto bias = load<int32_t>(dir + "/bias.bin", size_t(BIAS_RANK == 1 ? n : m * n));
  registerWindow(bias);
#if BIAS_RANK == 1
  MemRef<int32_t, 1> mbias = {bias.data(), bias.data(), 0, {n}, {1}};
#else
  MemRef<int32_t, 2> mbias = view2(bias, m, n);
#endif
  _mlir_ciface_f(&ma, &mb, &mc, &mbias);
#endif
  FILE *out = std::fopen((dir + "/out.bin").c_str(), "wb");
  if (!out || std::fwrite(c.data(), sizeof(C_ELEM), c.size(), out) != c.size()) {
    std::fprintf(stderr, "cannot write %s/out.bin\n", dir.c_str());
    return 2;
  }
  std::fclose(out);
  buddy_gemmini_sim_report(stdout);
  return 0;
}
