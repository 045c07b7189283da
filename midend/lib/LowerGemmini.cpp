//===- LowerGemmini.cpp - gemmini.tile_matmul -> instruction ops ----------===//
//
// Each static-shape `gemmini.tile_matmul` becomes the instruction sequence of
// tests/python/support/gemmini_tiling.py (the reference the tests replay
// through the functional model; docs/gemmini.md): C tiles of ti x tj 16x16
// blocks in the accumulator, A/B tiles of tk K blocks in the scratchpad,
// remainders through the rows/cols fields, bias by mvin3 into the
// accumulator, every K block accumulated there, scaled mvout. rs2 fields are
// constants; DRAM addresses are the memrefs' aligned pointers plus constant
// byte offsets. This first version emits the block sequence straight-line
// (`max-instructions` bounds it); turning the tile loops into scf.for is
// left for later.
//
//===----------------------------------------------------------------------===//

#include "buddy/Gemmini/GemminiDialect.h"
#include "buddy/Gemmini/Transforms.h"
#include "buddy/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/Builders.h"

#include <algorithm>
#include <cstring>

namespace buddy {
#define GEN_PASS_DEF_LOWERGEMMINI
#include "buddy/Passes.h.inc"
} // namespace buddy

using namespace mlir;
namespace gm = buddy::gemmini;

namespace {

constexpr int64_t kDim = 16, kSpRows = 16384, kAccRows = 1024, kDmaMaxBytes = 64;
constexpr uint64_t kGarbage = 0xffffffffull, kAcc = 1ull << 31, kAccumulate = 1ull << 30,
                   kReadFull = 1ull << 29;

uint64_t fields(uint64_t addr, int64_t cols, int64_t rows) {
  return (uint64_t(rows) << 48) | (uint64_t(cols) << 32) | addr;
}

uint64_t f32Bits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}

int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

struct Emitter {
  OpBuilder &b;
  Location loc;
  int64_t count = 0;

  Value c(uint64_t v) {
    return arith::ConstantOp::create(b, loc, b.getI64IntegerAttr(int64_t(v)));
  }
  Value base(Value memref) {
    Value p = memref::ExtractAlignedPointerAsIndexOp::create(b, loc, memref);
    return arith::IndexCastOp::create(b, loc, b.getI64Type(), p);
  }
  Value at(Value base, int64_t bytes) {
    return bytes == 0 ? base : arith::AddIOp::create(b, loc, base, c(uint64_t(bytes))).getResult();
  }
  template <typename OpT> void emit(Value rs1, Value rs2) {
    OpT::create(b, loc, rs1, rs2);
    ++count;
  }
  template <typename OpT> void emit(uint64_t rs1, uint64_t rs2) { emit<OpT>(c(rs1), c(rs2)); }
  template <typename OpT> void emit(Value rs1, uint64_t rs2) { emit<OpT>(rs1, c(rs2)); }
};

bool staticIdentity(Value v) {
  auto t = cast<MemRefType>(v.getType());
  return t.hasStaticShape() && t.getLayout().isIdentity();
}

struct LowerGemminiPass : buddy::impl::LowerGemminiBase<LowerGemminiPass> {
  using LowerGemminiBase::LowerGemminiBase;
  void runOnOperation() override {
    gm::GemminiTiling t{tileI, tileJ, tileK};
    if (failed(gm::lowerGemmini(getOperation(), t, maxInstructions)))
      signalPassFailure();
  }
};

} // namespace

gm::GemminiTiling gm::chooseTiling(int64_t m, int64_t n, int64_t k) {
  int64_t ti = std::min<int64_t>(ceilDiv(m, kDim), 4), tj = std::min<int64_t>(ceilDiv(n, kDim), 4);
  int64_t tk = std::min<int64_t>(ceilDiv(k, kDim), kSpRows / ((ti + tj) * kDim));
  return {ti, tj, tk};
}

LogicalResult gm::lowerTileMatmul(TileMatmulOp op, GemminiTiling forced, int64_t maxInstructions) {
  for (Value v : {op.getA(), op.getB(), op.getC()})
    if (!staticIdentity(v))
      return op.emitOpError("buddy-lower-gemmini: needs static shapes and identity layouts");
  if (op.getBias() && !staticIdentity(op.getBias()))
    return op.emitOpError("buddy-lower-gemmini: needs a static, identity-layout bias");
  auto at = cast<MemRefType>(op.getA().getType()), bt = cast<MemRefType>(op.getB().getType());
  auto ct = cast<MemRefType>(op.getC().getType());
  const int64_t m = at.getDimSize(0), k = at.getDimSize(1), n = bt.getDimSize(1), d = kDim;
  GemminiTiling t = chooseTiling(m, n, k);
  if (forced.ti > 0)
    t.ti = forced.ti;
  if (forced.tj > 0)
    t.tj = forced.tj;
  if (forced.tk > 0)
    t.tk = forced.tk;
  if (t.ti * t.tj * d > kAccRows)
    return op.emitOpError("buddy-lower-gemmini: a C tile of ")
           << t.ti << "x" << t.tj << " blocks exceeds the accumulator";
  if ((t.ti + t.tj) * t.tk * d > kSpRows)
    return op.emitOpError("buddy-lower-gemmini: A and B tiles exceed the scratchpad");
  const bool fullC = ct.getElementType().isInteger(32);
  const bool hasBias = op.getBias() != nullptr;
  const bool biasPerRow = hasBias && cast<MemRefType>(op.getBias().getType()).getRank() == 2;
  const uint64_t df = op.getDataflow() == "os" ? 0 : 1;
  const int64_t mvinBlocks = std::max<int64_t>(1, kDmaMaxBytes / d);
  const int64_t bBase = t.ti * t.tk * d;
  const int64_t cElem = fullC ? 4 : 1;

  OpBuilder b(op);
  Emitter e{b, op.getLoc()};
  Value aP = e.base(op.getA()), bP = e.base(op.getB()), cP = e.base(op.getC());
  Value biasP = hasBias ? e.base(op.getBias()) : Value();

  e.emit<ConfigExOp>((f32Bits(op.getScale().convertToFloat()) << 32) | (1ull << 16) |
                         (uint64_t(op.getRelu()) << 3) | (df << 2),
                     0);
  e.emit<ConfigStOp>(2, uint64_t(n * cElem));
  const uint64_t one = f32Bits(1.0f) << 32;
  e.emit<ConfigLdOp>(one | (0 << 3) | 1, uint64_t(k));
  e.emit<ConfigLdOp>(one | (1 << 3) | 1, uint64_t(n));
  e.emit<ConfigLdOp>(one | (2 << 3) | 1, uint64_t(biasPerRow ? n * 4 : 0));

  auto acc = [](int64_t row, bool accumulate) {
    return kAcc | (accumulate ? kAccumulate : 0) | uint64_t(row);
  };
  for (int64_t i0 = 0; i0 < m; i0 += t.ti * d) {
    const int64_t ni = ceilDiv(std::min(t.ti * d, m - i0), d);
    for (int64_t j0 = 0; j0 < n; j0 += t.tj * d) {
      const int64_t nj = ceilDiv(std::min(t.tj * d, n - j0), d);
      auto rowsI = [&](int64_t i) { return std::min(d, m - i0 - i * d); };
      auto colsJ = [&](int64_t j) { return std::min(d, n - j0 - j * d); };
      if (hasBias)
        for (int64_t i = 0; i < ni; ++i)
          for (int64_t j = 0; j < nj; ++j) {
            int64_t row = biasPerRow ? i0 + i * d : 0;
            e.emit<Mvin3Op>(e.at(biasP, (row * n + j0 + j * d) * 4),
                            fields(acc((i * nj + j) * d, false), colsJ(j), rowsI(i)));
          }
      for (int64_t k0 = 0; k0 < k; k0 += t.tk * d) {
        const int64_t nk = ceilDiv(std::min(t.tk * d, k - k0), d);
        auto rowsK = [&](int64_t kk) { return std::min(d, k - k0 - kk * d); };
        for (int64_t i = 0; i < ni; ++i)
          for (int64_t kb = 0; kb < nk; kb += mvinBlocks) {
            int64_t cols = std::min({mvinBlocks * d, (nk - kb) * d, k - k0 - kb * d});
            e.emit<MvinOp>(e.at(aP, (i0 + i * d) * k + k0 + kb * d),
                           fields(uint64_t((i * t.tk + kb) * d), cols, rowsI(i)));
          }
        for (int64_t kk = 0; kk < nk; ++kk)
          for (int64_t jb = 0; jb < nj; jb += mvinBlocks) {
            int64_t cols = std::min({mvinBlocks * d, (nj - jb) * d, n - j0 - jb * d});
            e.emit<Mvin2Op>(e.at(bP, (k0 + kk * d) * n + j0 + jb * d),
                            fields(uint64_t(bBase + (kk * t.tj + jb) * d), cols, rowsK(kk)));
          }
        auto cOf = [&](int64_t i, int64_t j, int64_t kk) {
          bool first = k0 == 0 && kk == 0 && !hasBias;
          return fields(acc((i * nj + j) * d, !first), colsJ(j), rowsI(i));
        };
        auto aOf = [&](int64_t i, int64_t kk) {
          return fields(uint64_t((i * t.tk + kk) * d), rowsK(kk), rowsI(i));
        };
        auto bOf = [&](int64_t kk, int64_t j) {
          return fields(uint64_t(bBase + (kk * t.tj + j) * d), colsJ(j), rowsK(kk));
        };
        const uint64_t garbage = fields(kGarbage, d, d);
        if (df == 1) {
          for (int64_t j = 0; j < nj; ++j)
            for (int64_t kk = 0; kk < nk; ++kk)
              for (int64_t i = 0; i < ni; ++i) {
                if (i == 0) {
                  e.emit<PreloadOp>(bOf(kk, j), cOf(i, j, kk));
                  e.emit<ComputePreloadedOp>(aOf(i, kk), garbage);
                } else {
                  e.emit<PreloadOp>(garbage, cOf(i, j, kk));
                  e.emit<ComputeAccumulatedOp>(aOf(i, kk), garbage);
                }
              }
        } else {
          for (int64_t i = 0; i < ni; ++i)
            for (int64_t j = 0; j < nj; ++j)
              for (int64_t kk = 0; kk < nk; ++kk) {
                e.emit<PreloadOp>(garbage, cOf(i, j, kk));
                e.emit<ComputePreloadedOp>(aOf(i, kk), bOf(kk, j));
              }
        }
        if (e.count > maxInstructions)
          return op.emitOpError("buddy-lower-gemmini: more than ")
                 << maxInstructions << " instructions (max-instructions)";
      }
      for (int64_t i = 0; i < ni; ++i)
        for (int64_t j = 0; j < nj; ++j)
          e.emit<MvoutOp>(e.at(cP, ((i0 + i * d) * n + j0 + j * d) * cElem),
                          fields(acc((i * nj + j) * d, false) | (fullC ? kReadFull : 0), colsJ(j),
                                 rowsI(i)));
    }
  }
  e.emit<FlushOp>(0, 0);
  op.erase();
  return success();
}

LogicalResult gm::lowerGemmini(func::FuncOp f, GemminiTiling forced, int64_t maxInstructions) {
  SmallVector<TileMatmulOp> ops;
  f.walk([&](TileMatmulOp op) { ops.push_back(op); });
  for (TileMatmulOp op : ops)
    if (failed(lowerTileMatmul(op, forced, maxInstructions)))
      return failure();
  return success();
}
