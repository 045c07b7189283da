// MemRef: allocation, borrowing, strided access, MLIR descriptor layout and
// the argument checks done before a compiled call.
#include "buddy/MemRef.h"
#include "buddy/Model.h"
#include "check.h"

#include <cstddef>

using namespace buddy;

static void testDTypes() {
  CHECK_EQ(dtypeSize(DType::F32), 4u);
  CHECK_EQ(dtypeSize(DType::BF16), 2u);
  CHECK_EQ(dtypeSize(DType::Bool), 1u);
  CHECK_EQ(dtypeSize(DType::I64), 8u);
  for (uint8_t c = 0; c < kNumDTypes; ++c) {
    DType t = static_cast<DType>(c);
    CHECK(parseDType(dtypeName(t)) == t);
  }
  CHECK(parseDType("i1") == DType::Bool);
  CHECK(!parseDType("f8"));
  CHECK(!isValidDType(kNumDTypes));
}

static void testShapes() {
  CHECK(checkedNumElements({2, 3, 4}) == 24);
  CHECK(checkedNumElements({}) == 1);
  CHECK(checkedNumElements({5, 0, 7}) == 0);
  CHECK(!checkedNumElements({-1, 2}));
  CHECK(!checkedNumElements({INT64_MAX, 2}));
  CHECK(!checkedByteSize(DType::I64, {INT64_MAX / 4}));
  // Empty, but the strides of the other dims overflow (found by the fuzzer).
  CHECK(!checkedNumElements({0, INT64_MAX, 2}));
  CHECK(!checkedByteSize(DType::F32, {3, 0, INT64_MAX / 2}));
  CHECK(checkedByteSize(DType::F32, {3, 0, 1 << 20}) == 0u);
  CHECK((contiguousStrides({2, 3, 4}) == Shape{12, 4, 1}));
  CHECK_EQ(shapeString({4, 5}), std::string("4x5"));
  CHECK_EQ(shapeString({}), std::string("scalar"));
  CHECK_THROWS(MemRef::allocate(DType::F32, {-3}), std::invalid_argument, "-3");
}

static void testAllocate() {
  MemRef m = MemRef::allocate(DType::F32, {3, 5});
  CHECK(m.isAligned());
  CHECK(reinterpret_cast<uintptr_t>(m.data()) % 64 == 0);
  CHECK_EQ(m.nbytes(), 60u);
  CHECK(m.isContiguous());
  CHECK(!m.readOnly());
  float *p = m.dataAs<float>();
  bool zero = true;
  for (int i = 0; i < 15; ++i)
    zero = zero && p[i] == 0.0f;
  CHECK(zero);
  m.at<float>({2, 4}) = 7.5f;
  CHECK_EQ(p[14], 7.5f);
  CHECK_THROWS(m.at<float>({3, 0}), std::out_of_range, "out of range for dim 0");
  CHECK_THROWS(m.at<float>({1}), std::out_of_range, "index rank 1");
  CHECK_THROWS(m.dataAs<int32_t>(), std::invalid_argument, "holds f32, accessed as i32");
  // Copies share the buffer.
  MemRef copy = m;
  CHECK_EQ(copy.data(), m.data());
  CHECK_EQ(m.storage().use_count(), 2);
  // Empty tensors still get a valid, aligned buffer.
  MemRef empty = MemRef::allocate(DType::I8, {0, 4});
  CHECK(empty.data() != nullptr);
  CHECK_EQ(empty.nbytes(), 0u);
}

static void testBorrowKeepAlive() {
  auto owner = std::make_shared<std::vector<int32_t>>(std::vector<int32_t>{0, 1, 2, 3, 4, 5});
  std::weak_ptr<std::vector<int32_t>> watch = owner;
  MemRef m = MemRef::borrow(DType::I32, owner->data(), {2, 3}, {}, owner);
  owner.reset();
  CHECK(!watch.expired()); // kept alive by the MemRef
  CHECK_EQ(m.at<int32_t>({1, 2}), 5);
  m = MemRef();
  CHECK(watch.expired());
}

static void testStrides() {
  // A 3x2 transposed view of a row-major 2x3 buffer.
  int64_t buf[6] = {0, 1, 2, 10, 11, 12};
  MemRef t = MemRef::borrow(DType::I64, buf, {3, 2}, {1, 3});
  CHECK(!t.isContiguous());
  CHECK_EQ(t.at<int64_t>({2, 1}), 12);
  MemRef c = t.contiguousCopy();
  CHECK(c.isContiguous());
  const int64_t expect[6] = {0, 10, 1, 11, 2, 12};
  bool same = true;
  for (int i = 0; i < 6; ++i)
    same = same && c.dataAs<int64_t>()[i] == expect[i];
  CHECK(same);
  // Size-1 dims do not affect contiguity.
  MemRef one = MemRef::borrow(DType::I64, buf, {1, 6}, {999, 1});
  CHECK(one.isContiguous());
  CHECK_THROWS(MemRef::borrow(DType::I64, buf, {2, 3}, {1}), std::invalid_argument, "strides rank");
}

using F3 = StridedMemRef<float, 3>;

static void testDescriptorLayout() {
  MemRef m = MemRef::allocate(DType::F32, {2, 3, 4});
  MemRefDescriptor d = m.descriptor();
  CHECK_EQ(d.size(), sizeof(StridedMemRef<float, 3>));
  auto *s = static_cast<StridedMemRef<float, 3> *>(d.data());
  CHECK_EQ(static_cast<void *>(s->allocated), m.data());
  CHECK_EQ(static_cast<void *>(s->aligned), m.data());
  CHECK_EQ(s->offset, 0);
  CHECK(s->sizes[0] == 2 && s->sizes[1] == 3 && s->sizes[2] == 4);
  CHECK(s->strides[0] == 12 && s->strides[1] == 4 && s->strides[2] == 1);
  // The field offsets of MLIR's StridedMemRefType<T, N>.
  CHECK_EQ(offsetof(F3, offset), 2 * sizeof(void *));
  CHECK_EQ(offsetof(F3, sizes), 2 * sizeof(void *) + 8);
  CHECK_EQ(offsetof(F3, strides), 2 * sizeof(void *) + 8 + 3 * 8);

  MemRef scalar = MemRef::allocate(DType::I64, {});
  MemRefDescriptor d0 = scalar.descriptor();
  CHECK_EQ(d0.size(), sizeof(StridedMemRef<int64_t, 0>));
  auto *s0 = static_cast<StridedMemRef<int64_t, 0> *>(d0.data());
  CHECK_EQ(static_cast<void *>(s0->aligned), scalar.data());
  CHECK_EQ(s0->offset, 0);
}

static void testArgumentChecks() {
  TensorSpec spec{"x", DType::F32, {4, 5}};
  MemRef ok = MemRef::allocate(DType::F32, {4, 5});
  ok.checkMatches(spec, 0); // no throw
  CHECK_THROWS(MemRef::allocate(DType::F16, {4, 5}).checkMatches(spec, 1), ArgumentError,
               "argument 1 ('x'): expected dtype f32, got f16");
  CHECK_THROWS(MemRef::allocate(DType::F32, {5, 4}).checkMatches(spec, 2), ArgumentError,
               "argument 2 ('x'): expected shape 4x5, got 5x4");
  float buf[20];
  MemRef strided = MemRef::borrow(DType::F32, buf, {4, 5}, {1, 4});
  CHECK_THROWS(strided.checkMatches(spec, 0), ArgumentError, "row-major");
  MemRef ro = MemRef::borrow(DType::F32, buf, {4, 5}, {}, nullptr, /*readOnly=*/true);
  ro.checkMatches(spec, 0);
  CHECK_THROWS(ro.checkMatches(spec, 0, /*isOutput=*/true), ArgumentError, "read-only");
}

// A packed function with the `_buddy_<fn>` ABI written in C++: out = a + b on
// 2-d f32 memrefs, honouring offsets and strides as compiled code does.
extern "C" void packed_add(void **args) {
  auto *a = static_cast<StridedMemRef<float, 2> *>(args[0]);
  auto *b = static_cast<StridedMemRef<float, 2> *>(args[1]);
  auto *o = static_cast<StridedMemRef<float, 2> *>(args[2]);
  for (int64_t i = 0; i < o->sizes[0]; ++i)
    for (int64_t j = 0; j < o->sizes[1]; ++j)
      o->aligned[o->offset + i * o->strides[0] + j * o->strides[1]] =
          a->aligned[a->offset + i * a->strides[0] + j * a->strides[1]] +
          b->aligned[b->offset + i * b->strides[0] + j * b->strides[1]];
}

static void testCallPacked() {
  Signature sig{{{"a", DType::F32, {2, 3}}, {"b", DType::F32, {2, 3}}, {"out", DType::F32, {2, 3}}}, 1};
  MemRef a = MemRef::allocate(DType::F32, {2, 3}), b = MemRef::allocate(DType::F32, {2, 3});
  for (int i = 0; i < 6; ++i) {
    a.dataAs<float>()[i] = static_cast<float>(i);
    b.dataAs<float>()[i] = 100.0f * static_cast<float>(i);
  }
  MemRef out = MemRef::allocate(DType::F32, {2, 3});
  callPacked(packed_add, sig, {&a, &b, &out}, "add");
  CHECK_EQ(out.at<float>({1, 2}), 505.0f);
  CHECK_EQ(out.at<float>({0, 1}), 101.0f);
  CHECK_THROWS(callPacked(packed_add, sig, {&a, &b}, "add"), ArgumentError,
               "add takes 3 arguments (2 inputs, 1 outputs), got 2");
  MemRef wrong = MemRef::allocate(DType::F32, {3, 2});
  CHECK_THROWS(callPacked(packed_add, sig, {&a, &wrong, &out}, "add"), ArgumentError,
               "argument 1 ('b'): expected shape 2x3, got 3x2");
}

static void testLibraryErrors() {
  CHECK_THROWS(Library("/nonexistent/libmodel.so"), LibraryError,
               "cannot load compiled model '/nonexistent/libmodel.so'");
  // libc is loadable but has no _buddy_forward.
  Library libc("libc.so.6");
  CHECK(!libc.has("forward"));
  CHECK_THROWS(libc.function("forward"), LibraryError, "has no function '_buddy_forward'");
}

int main() {
  testDTypes();
  testShapes();
  testAllocate();
  testBorrowKeepAlive();
  testStrides();
  testDescriptorLayout();
  testArgumentChecks();
  testCallPacked();
  testLibraryErrors();
  return buddy_test::report();
}
