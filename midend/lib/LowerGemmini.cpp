//===- LowerGemmini.cpp - gemmini.tile_matmul -> instruction ops ----------===//
//
// Each static-shape `gemmini.tile_matmul` becomes the instruction sequence of
// tests/python/support/gemmini_tiling.py (the reference the tests replay
// through the functional model; docs/gemmini.md): C tiles of ti x tj 16x16
// blocks in the accumulator, A/B tiles of tk K blocks in the scratchpad,
// remainders through the rows/cols fields, bias by mvin3 into the
// accumulator, every K block accumulated there, scaled mvout. The loops of the reference (over I/J/K tiles,
// over the blocks of a tile, over mvin groups) become scf.for over i64, one
// per run of iterations that need the same static fields; the others (the
// remainder tile or block, the first K step without bias, the WS row block
// that preloads B) are peeled and emitted with constant indices. rs1/rs2 are
// arith on the induction variables and the memrefs' aligned pointers, so
// the executed sequence is exactly the reference's while the code stays a
// few hundred ops at most (`max-instructions` bounds the static instruction
// ops).
//
//===----------------------------------------------------------------------===//

#include "buddy/Gemmini/GemminiDialect.h"
#include "buddy/Gemmini/Transforms.h"
#include "buddy/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
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

uint64_t f32Bits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}

int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

/// An i64 linear in values of the enclosing code (loop induction variables,
/// base pointers): `cst + sum coef * value`. Every rs1/rs2 of the sequence is
/// one (the rows/cols fields and flags are constants added to an address).
struct Lin {
  uint64_t cst = 0; // wraps like the i64 arithmetic it becomes
  SmallVector<std::pair<Value, int64_t>, 4> terms;
  Lin(uint64_t c = 0) : cst(c) {}
  Lin(Value v) { terms.push_back({v, 1}); }
  Lin operator+(const Lin &o) const {
    Lin r = *this;
    r.cst += o.cst;
    for (auto [v, k] : o.terms) {
      auto *it = llvm::find_if(r.terms, [&](auto &t) { return t.first == v; });
      if (it == r.terms.end())
        r.terms.push_back({v, k});
      else
        it->second += k;
    }
    return r;
  }
  Lin operator*(int64_t s) const {
    Lin r(cst * uint64_t(s));
    for (auto [v, k] : terms)
      r.terms.push_back({v, k * s});
    return r;
  }
};

using Key = SmallVector<int64_t, 4>;

struct Emitter {
  OpBuilder &b;
  Location loc;
  int64_t count = 0; // instruction ops emitted (static code size)

  Value c(uint64_t v) {
    return arith::ConstantOp::create(b, loc, b.getI64IntegerAttr(int64_t(v)));
  }
  Value index64(Value v) { return arith::IndexCastOp::create(b, loc, b.getI64Type(), v); }
  /// The address of `memref`'s first element: its aligned pointer, plus its
  /// offset in bytes unless the layout is the identity (a subview).
  Lin base(Value memref) {
    Lin p = index64(memref::ExtractAlignedPointerAsIndexOp::create(b, loc, memref));
    auto t = cast<MemRefType>(memref.getType());
    if (t.getLayout().isIdentity())
      return p;
    auto meta = memref::ExtractStridedMetadataOp::create(b, loc, memref);
    return p + Lin(index64(meta.getOffset())) * (t.getElementTypeBitWidth() / 8);
  }
  Value value(const Lin &l) {
    Value acc;
    for (auto [v, k] : l.terms) {
      if (k == 0)
        continue;
      Value t = k == 1 ? v : arith::MulIOp::create(b, loc, v, c(uint64_t(k))).getResult();
      acc = acc ? arith::AddIOp::create(b, loc, acc, t).getResult() : t;
    }
    if (!acc)
      return c(uint64_t(l.cst));
    return l.cst == 0 ? acc : arith::AddIOp::create(b, loc, acc, c(uint64_t(l.cst))).getResult();
  }
  template <typename OpT> void emit(const Lin &rs1, const Lin &rs2) {
    Value v1 = value(rs1), v2 = value(rs2);
    OpT::create(b, loc, v1, v2);
    ++count;
  }

  /// body(idx, rep) for idx = 0 .. n-1, in order. `key(i)` is everything
  /// static the body derives from iteration i (it may only use `rep`, the
  /// first iteration of its run, for that, and `idx` linearly): runs of
  /// equal keys become one scf.for over i64 with idx its induction variable,
  /// a run of one is emitted with idx constant. So the executed sequence is
  /// the unrolled one, and remainder iterations are peeled statically.
  void loop(int64_t n, llvm::function_ref<Key(int64_t)> key,
            llvm::function_ref<void(Lin, int64_t)> body) {
    for (int64_t i = 0; i < n;) {
      Key ki = key(i);
      int64_t j = i + 1;
      while (j < n && key(j) == ki)
        ++j;
      if (j - i == 1) {
        body(Lin(i), i);
      } else {
        Value lb = c(uint64_t(i)), ub = c(uint64_t(j)), step = c(1);
        auto f = scf::ForOp::create(b, loc, lb, ub, step);
        OpBuilder::InsertionGuard g(b);
        b.setInsertionPoint(f.getBody()->getTerminator());
        body(Lin(f.getInductionVar()), i);
      }
      i = j;
    }
  }
};

/// Static shape and rows laid out back to back (strides [cols, 1] or none), at
/// any offset: the identity layout or a subview of one dropping outer dims.
bool staticRowMajor(Value v) {
  auto t = cast<MemRefType>(v.getType());
  if (!t.hasStaticShape())
    return false;
  if (t.getLayout().isIdentity())
    return true;
  SmallVector<int64_t> strides;
  int64_t offset;
  if (failed(t.getStridesAndOffset(strides, offset)))
    return false;
  return strides.back() == 1 && (t.getRank() == 1 || strides[0] == t.getDimSize(1));
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
    if (!staticRowMajor(v))
      return op.emitOpError("buddy-lower-gemmini: needs static shapes and row-major layouts");
  if (op.getBias() && !staticRowMajor(op.getBias()))
    return op.emitOpError("buddy-lower-gemmini: needs a static, row-major bias");
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
  Lin aP = e.base(op.getA()), bP = e.base(op.getB()), cP = e.base(op.getC());
  Lin biasP = hasBias ? Lin(e.base(op.getBias())) : Lin();

  e.emit<ConfigExOp>((f32Bits(op.getScale().convertToFloat()) << 32) | (1ull << 16) |
                         (uint64_t(op.getRelu()) << 3) | (df << 2),
                     0);
  e.emit<ConfigStOp>(2, uint64_t(n * cElem));
  const uint64_t one = f32Bits(1.0f) << 32;
  e.emit<ConfigLdOp>(one | (0 << 3) | 1, uint64_t(k));
  e.emit<ConfigLdOp>(one | (1 << 3) | 1, uint64_t(n));
  e.emit<ConfigLdOp>(one | (2 << 3) | 1, uint64_t(biasPerRow ? n * 4 : 0));

  // rs2 of mvin/mvout, rs1/rs2 of preload/compute; `addr` stays below 2^32.
  auto fields = [](const Lin &addr, int64_t cols, int64_t rows) {
    return addr + Lin((uint64_t(rows) << 48) | (uint64_t(cols) << 32));
  };
  auto acc = [](const Lin &row, bool accumulate) {
    return row + Lin(kAcc | (accumulate ? kAccumulate : 0));
  };
  const Lin garbage = fields(Lin(kGarbage), d, d);
  // Tiles (it, jt, kt: tile indices; i0, j0, k0: static first row/column of
  // the representative tile) and blocks within them (i, j, kk). Every loop
  // keys its iterations by what they need statically: the block count of a
  // tile, the rows/cols of its last block, the first K step without bias.
  auto blocksOf = [&](int64_t tile, int64_t size, int64_t at) {
    return ceilDiv(std::min(tile * d, size - at), d);
  };
  auto lastOf = [&](int64_t nb, int64_t size, int64_t at) {
    return std::min(d, size - at - (nb - 1) * d);
  };
  e.loop(
      ceilDiv(m, t.ti * d),
      [&](int64_t it) {
        int64_t ni = blocksOf(t.ti, m, it * t.ti * d);
        return Key{ni, lastOf(ni, m, it * t.ti * d)};
      },
      [&](Lin it, int64_t itRep) {
        const int64_t i0s = itRep * t.ti * d, ni = blocksOf(t.ti, m, i0s);
        const Lin i0 = it * (t.ti * d);
        auto rowsI = [&](int64_t i) { return std::min(d, m - i0s - i * d); };
        auto loopI = [&](llvm::function_ref<void(Lin, int64_t)> f, bool firstApart = false) {
          e.loop(
              ni, [&](int64_t i) { return Key{rowsI(i), firstApart && i == 0}; }, f);
        };
        e.loop(
            ceilDiv(n, t.tj * d),
            [&](int64_t jt) {
              int64_t nj = blocksOf(t.tj, n, jt * t.tj * d);
              return Key{nj, lastOf(nj, n, jt * t.tj * d)};
            },
            [&](Lin jt, int64_t jtRep) {
              const int64_t j0s = jtRep * t.tj * d, nj = blocksOf(t.tj, n, j0s);
              const Lin j0 = jt * (t.tj * d);
              auto colsJ = [&](int64_t j) { return std::min(d, n - j0s - j * d); };
              auto loopJ = [&](llvm::function_ref<void(Lin, int64_t)> f) {
                e.loop(
                    nj, [&](int64_t j) { return Key{colsJ(j)}; }, f);
              };
              auto accRow = [&](const Lin &i, const Lin &j) { return (i * nj + j) * d; };
              if (hasBias)
                loopI([&](Lin i, int64_t is) {
                  loopJ([&](Lin j, int64_t js) {
                    Lin row = biasPerRow ? i0 + i * d : Lin();
                    e.emit<Mvin3Op>(biasP + (row * n + j0 + j * d) * 4,
                                    fields(acc(accRow(i, j), false), colsJ(js), rowsI(is)));
                  });
                });
              e.loop(
                  ceilDiv(k, t.tk * d),
                  [&](int64_t kt) {
                    int64_t nk = blocksOf(t.tk, k, kt * t.tk * d);
                    return Key{nk, lastOf(nk, k, kt * t.tk * d), kt == 0 && !hasBias};
                  },
                  [&](Lin kt, int64_t ktRep) {
                    const int64_t k0s = ktRep * t.tk * d, nk = blocksOf(t.tk, k, k0s);
                    const Lin k0 = kt * (t.tk * d);
                    auto rowsK = [&](int64_t kk) { return std::min(d, k - k0s - kk * d); };
                    auto first = [&](int64_t kk) { return k0s == 0 && kk == 0 && !hasBias; };
                    auto loopK = [&](llvm::function_ref<void(Lin, int64_t)> f) {
                      e.loop(
                          nk, [&](int64_t kk) { return Key{rowsK(kk), first(kk)}; }, f);
                    };
                    // mvin of up to mvinBlocks blocks of a row band: the columns of
                    // group g of nb blocks, the last one ending at `left`.
                    auto groupCols = [&](int64_t g, int64_t nb, int64_t left) {
                      return std::min({mvinBlocks * d, (nb - g * mvinBlocks) * d,
                                       left - g * mvinBlocks * d});
                    };
                    loopI([&](Lin i, int64_t is) {
                      e.loop(
                          ceilDiv(nk, mvinBlocks),
                          [&](int64_t g) { return Key{groupCols(g, nk, k - k0s)}; },
                          [&](Lin g, int64_t gs) {
                            Lin kb = g * mvinBlocks;
                            e.emit<MvinOp>(aP + (i0 + i * d) * k + k0 + kb * d,
                                           fields((i * t.tk + kb) * d,
                                                  groupCols(gs, nk, k - k0s), rowsI(is)));
                          });
                    });
                    e.loop(nk, [&](int64_t kk) { return Key{rowsK(kk)}; }, [&](Lin kk, int64_t kks) {
                      e.loop(
                          ceilDiv(nj, mvinBlocks),
                          [&](int64_t g) { return Key{groupCols(g, nj, n - j0s)}; },
                          [&](Lin g, int64_t gs) {
                            Lin jb = g * mvinBlocks;
                            e.emit<Mvin2Op>(bP + (k0 + kk * d) * n + j0 + jb * d,
                                            fields(Lin(uint64_t(bBase)) + (kk * t.tj + jb) * d,
                                                   groupCols(gs, nj, n - j0s), rowsK(kks)));
                          });
                    });
                    auto cOf = [&](const Lin &i, int64_t is, const Lin &j, int64_t js,
                                   int64_t kks) {
                      return fields(acc(accRow(i, j), !first(kks)), colsJ(js), rowsI(is));
                    };
                    auto aOf = [&](const Lin &i, int64_t is, const Lin &kk, int64_t kks) {
                      return fields((i * t.tk + kk) * d, rowsK(kks), rowsI(is));
                    };
                    auto bOf = [&](const Lin &kk, int64_t kks, const Lin &j, int64_t js) {
                      return fields(Lin(uint64_t(bBase)) + (kk * t.tj + j) * d, colsJ(js),
                                    rowsK(kks));
                    };
                    if (df == 1) {
                      // WS: B(kk, j) stays in the array for every row block.
                      loopJ([&](Lin j, int64_t js) {
                        loopK([&](Lin kk, int64_t kks) {
                          loopI(
                              [&](Lin i, int64_t is) {
                                if (is == 0) {
                                  e.emit<PreloadOp>(bOf(kk, kks, j, js), cOf(i, is, j, js, kks));
                                  e.emit<ComputePreloadedOp>(aOf(i, is, kk, kks), garbage);
                                } else {
                                  e.emit<PreloadOp>(garbage, cOf(i, is, j, js, kks));
                                  e.emit<ComputeAccumulatedOp>(aOf(i, is, kk, kks), garbage);
                                }
                              },
                              /*firstApart=*/true);
                        });
                      });
                    } else {
                      loopI([&](Lin i, int64_t is) {
                        loopJ([&](Lin j, int64_t js) {
                          loopK([&](Lin kk, int64_t kks) {
                            e.emit<PreloadOp>(garbage, cOf(i, is, j, js, kks));
                            e.emit<ComputePreloadedOp>(aOf(i, is, kk, kks), bOf(kk, kks, j, js));
                          });
                        });
                      });
                    }
                  });
              loopI([&](Lin i, int64_t is) {
                loopJ([&](Lin j, int64_t js) {
                  e.emit<MvoutOp>(cP + ((i0 + i * d) * n + j0 + j * d) * cElem,
                                  fields(acc(accRow(i, j), false) + Lin(fullC ? kReadFull : 0),
                                         colsJ(js), rowsI(is)));
                });
              });
            });
      });
  e.emit<FlushOp>(0, 0);
  if (e.count > maxInstructions)
    return op.emitOpError("buddy-lower-gemmini: more than ")
           << maxInstructions << " instruction ops (max-instructions)";
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
