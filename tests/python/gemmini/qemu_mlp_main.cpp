// qemu_mlp_main.cpp - the riscv64 driver of test_gemmini_mlp.py: reads the int8
// inputs X [M, K] from <dir>/x.bin, calls the compiled network `f` (its C
// interface; the weights are constants inside the object), writes the int8
// outputs [M, N] to <dir>/out.bin and the Gemmini counters (RoccTrap.h) to stdout.
//
// No DMA window is registered: the weights live in the data section and the
// hidden activations in buffers `f` allocates, so every address is allowed.
#include "RoccTrap.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

struct MemRef2 {
  int8_t *allocated;
  int8_t *aligned;
  int64_t offset;
  int64_t sizes[2];
  int64_t strides[2];
};

extern "C" void _mlir_ciface_f(MemRef2 *x, MemRef2 *out);

int main(int argc, char **argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s M K N dir\n", argv[0]);
    return 2;
  }
  const int64_t m = std::atoll(argv[1]), k = std::atoll(argv[2]), n = std::atoll(argv[3]);
  const std::string dir = argv[4];
  std::vector<int8_t> x(size_t(m * k)), y(size_t(m * n), int8_t(99));
  FILE *f = std::fopen((dir + "/x.bin").c_str(), "rb");
  if (!f || std::fread(x.data(), 1, x.size(), f) != x.size()) {
    std::fprintf(stderr, "cannot read %zu bytes from %s/x.bin\n", x.size(), dir.c_str());
    return 2;
  }
  std::fclose(f);
  MemRef2 mx = {x.data(), x.data(), 0, {m, k}, {k, 1}};
  MemRef2 my = {y.data(), y.data(), 0, {m, n}, {n, 1}};
  _mlir_ciface_f(&mx, &my);
  FILE *out = std::fopen((dir + "/out.bin").c_str(), "wb");
  if (!out || std::fwrite(y.data(), 1, y.size(), out) != y.size()) {
    std::fprintf(stderr, "cannot write %s/out.bin\n", dir.c_str());
    return 2;
  }
  std::fclose(out);
  buddy_gemmini_sim_report(stdout);
  return 0;
}
