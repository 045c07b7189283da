// check.h - minimal assertions for the C++ unit tests (tests/cpp/test_*.cpp).
// CHECK(cond) / CHECK_EQ(a, b) record a failure with file:line and go on;
// CHECK_THROWS(expr, Type, substr) expects `expr` to throw `Type` whose
// what() contains `substr`. main() returns buddy_test::report().
#ifndef BUDDY_TESTS_CHECK_H
#define BUDDY_TESTS_CHECK_H

#include <cstdio>
#include <string>

namespace buddy_test {
inline int &failures() {
  static int n = 0;
  return n;
}
inline int &checks() {
  static int n = 0;
  return n;
}
inline void fail(const char *file, int line, const std::string &msg) {
  ++failures();
  std::fprintf(stderr, "%s:%d: FAILED: %s\n", file, line, msg.c_str());
}
inline int report() {
  std::fprintf(stderr, "%d checks, %d failures\n", checks(), failures());
  return failures() == 0 ? 0 : 1;
}
} // namespace buddy_test

#define CHECK(cond)                                                            \
  do {                                                                         \
    ++buddy_test::checks();                                                    \
    if (!(cond))                                                               \
      buddy_test::fail(__FILE__, __LINE__, #cond);                             \
  } while (0)

#define CHECK_EQ(a, b)                                                         \
  do {                                                                         \
    ++buddy_test::checks();                                                    \
    if (!((a) == (b)))                                                         \
      buddy_test::fail(__FILE__, __LINE__, #a " == " #b);                      \
  } while (0)

#define CHECK_THROWS(expr, Type, substr)                                       \
  do {                                                                         \
    ++buddy_test::checks();                                                    \
    try {                                                                      \
      (void)(expr);                                                            \
      buddy_test::fail(__FILE__, __LINE__, #expr " did not throw " #Type);     \
    } catch (const Type &e_) {                                                 \
      if (std::string(e_.what()).find(substr) == std::string::npos)            \
        buddy_test::fail(__FILE__, __LINE__,                                   \
                         std::string(#expr " threw '") + e_.what() +           \
                             "', expected it to mention '" + (substr) + "'");  \
    } catch (...) {                                                            \
      buddy_test::fail(__FILE__, __LINE__, #expr " threw another type");       \
    }                                                                          \
  } while (0)

#endif // BUDDY_TESTS_CHECK_H
