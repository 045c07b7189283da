// Calls the model compiled by buddy_add_model() through the packed ABI and
// checks it against a plain C++ evaluation of the same MLP (import_tiny.py):
// once as `_buddy_forward` (library tiny_mlp), once as `_buddy_tiny_mlp`
// (library tiny_mlp_named, ENTRY tiny_mlp), both linked into this executable.
#include "buddy/MemRef.h"

#include <cmath>
#include <cstdio>

extern "C" void _buddy_forward(void **args);
extern "C" void _buddy_tiny_mlp(void **args);

namespace {
constexpr int In = 8, Hidden = 16, Out = 4, Batch = 2;

float weight(int layer, int i, int j) {
  return static_cast<float>(((i * 7 + j * 3 + layer * 5) % 11 - 5) / 10.0);
}
float bias(int i) { return static_cast<float>((i % 5 - 2) / 10.0); }

template <int R, int C> buddy::StridedMemRef<float, 2> view(float (&a)[R][C]) {
  return {&a[0][0], &a[0][0], 0, {R, C}, {C, 1}};
}

int check(void (*fn)(void **), const char *name) {
  alignas(64) float x[Batch][In];
  alignas(64) float y[Batch][Out] = {};
  for (int b = 0; b < Batch; ++b)
    for (int i = 0; i < In; ++i)
      x[b][i] = static_cast<float>((b * In + i) % 9) / 4.0f - 1.0f;

  auto dx = view(x);
  auto dy = view(y);
  void *args[] = {&dx, &dy};
  fn(args);

  int bad = 0;
  for (int b = 0; b < Batch; ++b) {
    float h[Hidden];
    for (int j = 0; j < Hidden; ++j) {
      float s = 0;
      for (int i = 0; i < In; ++i)
        s += x[b][i] * weight(1, j, i);
      h[j] = std::fmax(s + bias(j), 0.0f);
    }
    for (int o = 0; o < Out; ++o) {
      float s = 0;
      for (int j = 0; j < Hidden; ++j)
        s += h[j] * weight(2, o, j);
      std::printf("%s: y[%d][%d] = %g (expected %g)\n", name, b, o, y[b][o], s);
      if (std::fabs(s - y[b][o]) > 1e-4f * (1 + std::fabs(s)))
        ++bad;
    }
  }
  std::printf("%s: %s\n", name, bad ? "MISMATCH" : "OK");
  return bad;
}
} // namespace

int main() {
  int bad = check(_buddy_forward, "_buddy_forward") + check(_buddy_tiny_mlp, "_buddy_tiny_mlp");
  return bad ? 1 : 0;
}
