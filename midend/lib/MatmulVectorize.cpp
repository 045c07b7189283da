//===- MatmulVectorize.cpp - blocked, packed, register-tiled f32 GEMM -----===//
//
// Rewrites f32 linalg.matmul / linalg.batch_matmul on memrefs (plain B or
// B-transposed maps) into a BLIS-style loop nest built from scf/vector/memref:
//
//   scf.parallel (batch, [M part,] N-block jc)    // one N panel per iteration
//     Bp = memref.alloc  kc x ncBlock            // thread-private pack buffer
//     scf.for pc in K step kc                    // cache block over K
//       pack B[pc:pc+kc, jc:jc+nc] into Bp as [nc/nr][kc][nr] (zero padded)
//       scf.for ir in M step mr                  // mr rows of A stay in L1
//         scf.for jr in nc step nr               // Bp streams from L2
//           micro-kernel: mr x (nr/vw) vector accumulators, per k one
//           broadcast of A[i,k] and nr/vw vector loads of Bp, vector.fma
//       remaining M % mr rows: the same micro-kernel with one row
//
// The N tail is handled with masked loads/stores of C and a zero-padded Bp;
// the K tail with the trip count of the k loop. See Passes.td.
//
//===----------------------------------------------------------------------===//

#include "ElementwiseEpilogue.h"
#include "KernelEmitter.h"
#include "buddy/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

namespace buddy {
#define GEN_PASS_DEF_MATMULVECTORIZE
#include "buddy/Passes.h.inc"
} // namespace buddy

using namespace mlir;
using namespace buddy::kernel;

namespace {

struct GemmConfig {
  int64_t vw, mr, nr, kc, nc, mc, threads;
  bool packA;
};

class GemmEmitter {
public:
  /// `fillValue`, if set, is the scalar C holds on entry (a folded
  /// linalg.fill): C is then written without being read first. `epilogue`,
  /// if set, is an elementwise consumer of C applied to the registers of the
  /// last K block, which then store its output instead of C.
  GemmEmitter(OpBuilder &b, Location loc, const MatmulOperands &ops,
              const GemmConfig &cfg, Value fillValue,
              const std::optional<Epilogue> &epilogue)
      : b(b), loc(loc), ops(ops), cfg(cfg), fillValue(fillValue),
        epilogue(epilogue), im{b, loc} {}

  void emit() {
    Value a = ops.a, c = ops.c;
    int64_t r = ops.batched ? 1 : 0;
    Value M = im.dim(c, r), N = im.dim(c, r + 1), K = im.dim(a, r + 1);
    kTotal = K;
    int64_t ncBlock = chooseNcBlock();
    Value nBlocks = im.ceilDiv(N, ncBlock);

    SmallVector<Value> lbs, ubs, steps;
    if (ops.batched) {
      lbs.push_back(im.c(0));
      ubs.push_back(im.dim(c, 0));
      steps.push_back(im.c(1));
    }
    int64_t mChunk = chooseMChunk(ncBlock);
    if (mChunk > 0) {
      lbs.push_back(im.c(0));
      ubs.push_back(im.ceilDiv(M, mChunk));
      steps.push_back(im.c(1));
    }
    lbs.push_back(im.c(0));
    ubs.push_back(nBlocks);
    steps.push_back(im.c(1));
    auto par = scf::ParallelOp::create(b, loc, lbs, ubs, steps);
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPoint(par.getBody()->getTerminator());
    ValueRange ivs = par.getInductionVars();
    Value batch = ops.batched ? ivs[0] : Value();
    Value m0 = im.c(0), m1 = M;
    if (mChunk > 0) {
      m0 = im.mul(ivs[ops.batched ? 1 : 0], mChunk);
      m1 = im.min(im.add(m0, mChunk), M);
    }
    Value jc = im.mul(ivs.back(), ncBlock);
    Value ncur = im.min(im.c(ncBlock), im.sub(N, jc));
    auto bpTy = MemRefType::get({cfg.kc * ncBlock}, b.getF32Type());
    Value bp =
        memref::AllocOp::create(b, loc, bpTy, b.getI64IntegerAttr(64));
    Value ap;
    if (cfg.packA) {
      auto apTy = MemRefType::get({cfg.mc * cfg.kc}, b.getF32Type());
      ap = memref::AllocOp::create(b, loc, apTy, b.getI64IntegerAttr(64));
    }
    forLoop(im.c(0), K, im.c(cfg.kc), [&](Value pc) {
      Value kcur = im.min(im.c(cfg.kc), im.sub(K, pc));
      emitPack(bp, batch, jc, ncur, N, pc, kcur);
      Value mFull = im.add(m0, im.floorTo(im.sub(m1, m0), cfg.mr));
      if (ap) {
        // BLIS order: an mc x kc block of A is packed (L2), then each nr
        // micro-panel of Bp (L1) is swept over the block's register tiles.
        forLoop(m0, mFull, im.c(cfg.mc), [&](Value ic) {
          Value mcur = im.min(im.c(cfg.mc), im.sub(mFull, ic));
          emitPackA(ap, batch, ic, mcur, pc, kcur);
          forLoop(im.c(0), ncur, im.c(cfg.nr), [&](Value jr) {
            forLoop(im.c(0), mcur, im.c(cfg.mr), [&](Value i0) {
              emitTile(bp, ap, i0, batch, im.add(ic, i0), cfg.mr, jc, jr,
                       ncur, pc, kcur);
            });
          });
        });
      } else {
        forLoop(m0, mFull, im.c(cfg.mr), [&](Value ir) {
          forLoop(im.c(0), ncur, im.c(cfg.nr), [&](Value jr) {
            emitTile(bp, Value(), Value(), batch, ir, cfg.mr, jc, jr, ncur,
                     pc, kcur);
          });
        });
      }
      forLoop(mFull, m1, im.c(1), [&](Value ir) {
        forLoop(im.c(0), ncur, im.c(cfg.nr), [&](Value jr) {
          emitTile(bp, Value(), Value(), batch, ir, 1, jc, jr, ncur, pc,
                   kcur);
        });
      });
    });
    if (ap)
      memref::DeallocOp::create(b, loc, ap);
    memref::DeallocOp::create(b, loc, bp);
  }

private:
  OpBuilder &b;
  Location loc;
  const MatmulOperands &ops;
  const GemmConfig &cfg;
  Value fillValue;
  const std::optional<Epilogue> &epilogue;
  IndexMath im;
  Value kTotal;

  /// With static shapes and fewer (batch x N panel) tasks than threads, M
  /// is split too (each M part packs its own copy of the B panel). Returns
  /// the M rows per part (a multiple of mr), or 0 for no M split.
  int64_t chooseMChunk(int64_t ncBlock) const {
    auto cTy = cast<MemRefType>(ops.c.getType());
    if (!cTy.hasStaticShape())
      return 0;
    int64_t r = cTy.getRank();
    int64_t m = cTy.getShape()[r - 2], n = cTy.getShape()[r - 1];
    int64_t tasks = llvm::divideCeil(n, ncBlock) *
                    (ops.batched ? cTy.getShape()[0] : 1);
    int64_t t = std::max<int64_t>(cfg.threads, 1);
    if (tasks == 0 || tasks >= t || m < 2 * cfg.mr)
      return 0;
    int64_t parts = llvm::divideCeil(t, tasks);
    return llvm::divideCeil(llvm::divideCeil(m, parts), cfg.mr) * cfg.mr;
  }

  /// N-panel width: at most `nc`, a multiple of `nr`, and when N is static
  /// chosen so that the panel count is a multiple of the thread count (the
  /// parallel loop is split statically across threads).
  int64_t chooseNcBlock() const {
    auto cTy = cast<MemRefType>(ops.c.getType());
    int64_t n = cTy.getShape().back();
    if (ShapedType::isDynamic(n) || n == 0)
      return cfg.nc;
    // Batches already give the parallel loop enough iterations.
    if (ops.batched)
      return std::min<int64_t>(cfg.nc, llvm::divideCeil(n, cfg.nr) * cfg.nr);
    int64_t blocks = llvm::divideCeil(n, cfg.nc);
    int64_t t = std::max<int64_t>(cfg.threads, 1);
    blocks = llvm::divideCeil(blocks, t) * t;
    int64_t w = llvm::divideCeil(llvm::divideCeil(n, blocks), cfg.nr) * cfg.nr;
    return std::max(w, cfg.nr);
  }

  void forLoop(Value lb, Value ub, Value step,
               llvm::function_ref<void(Value)> body) {
    buddy::kernel::forLoop(b, loc, lb, ub, step, body);
  }

  VectorType vecTy() const { return VectorType::get({cfg.vw}, b.getF32Type()); }

  Value zeroVec() {
    return arith::ConstantOp::create(
        b, loc, vecTy(), DenseElementsAttr::get(vecTy(), 0.0f));
  }

  /// Bp[(jr/nr)*kc*nr + k*nr + j] = B(k + pc, jc + jr + j), zero past N.
  void emitPack(Value bp, Value batch, Value jc, Value ncur, Value N, Value pc,
                Value kcur) {
    Value bm = ops.b;
    forLoop(im.c(0), ncur, im.c(cfg.nr), [&](Value jr) {
      Value panel = im.mul(jr, cfg.kc);
      if (!ops.transposedB) {
        // Rows of B are contiguous along N: masked vector copies.
        SmallVector<Value> masks;
        Value left = im.sub(ncur, jr);
        for (int64_t v = 0; v < cfg.nr / cfg.vw; ++v)
          masks.push_back(im.mask(cfg.vw, im.sub(left, im.c(v * cfg.vw))));
        Value zero = zeroVec();
        forLoop(im.c(0), kcur, im.c(1), [&](Value k) {
          Value row = im.add(pc, k);
          Value dst = im.add(panel, im.mul(k, cfg.nr));
          for (int64_t v = 0; v < cfg.nr / cfg.vw; ++v) {
            Value col = im.add(im.add(jc, jr), v * cfg.vw);
            Value x = vector::MaskedLoadOp::create(
                b, loc, vecTy(), bm, idx(batch, row, col), masks[v], zero);
            vector::StoreOp::create(b, loc, x, bp,
                                    ValueRange{im.add(dst, v * cfg.vw)});
          }
        });
        return;
      }
      // B is (n, k): vw x vw tiles are loaded row-wise (contiguous in k),
      // transposed in registers (vector.transpose) and stored as panel rows.
      // Rows past N are clamped to N - 1: they only feed padding columns of
      // the panel, whose results are never stored. Rows past kcur (up to the
      // next multiple of vw, within kc) are zero-filled by the masked loads.
      int64_t vw = cfg.vw;
      auto tileTy = VectorType::get({vw, vw}, b.getF32Type());
      Value zero = zeroVec();
      Value lastRow = im.sub(N, im.c(1));
      for (int64_t j0 = 0; j0 < cfg.nr; j0 += vw) {
        SmallVector<Value> rowsN;
        for (int64_t r = 0; r < vw; ++r)
          rowsN.push_back(im.min(im.add(im.add(jc, jr), j0 + r), lastRow));
        forLoop(im.c(0), kcur, im.c(vw), [&](Value k0) {
          Value kk = im.add(pc, k0);
          Value mask = im.mask(vw, im.sub(kcur, k0));
          Value tile = arith::ConstantOp::create(
              b, loc, tileTy, DenseElementsAttr::get(tileTy, 0.0f));
          for (int64_t r = 0; r < vw; ++r) {
            Value row = vector::MaskedLoadOp::create(
                b, loc, vecTy(), bm, idx(batch, rowsN[r], kk), mask, zero);
            tile = vector::InsertOp::create(b, loc, row, tile,
                                            ArrayRef<int64_t>{r});
          }
          Value t = vector::TransposeOp::create(b, loc, tile,
                                                ArrayRef<int64_t>{1, 0});
          Value dst0 = im.add(im.add(panel, im.mul(k0, cfg.nr)), j0);
          for (int64_t r = 0; r < vw; ++r) {
            Value col = vector::ExtractOp::create(b, loc, t,
                                                  ArrayRef<int64_t>{r});
            vector::StoreOp::create(b, loc, col, bp,
                                    ValueRange{im.add(dst0, r * cfg.nr)});
          }
        });
      }
    });
  }

  /// Ap[i*kc + k] = A(ic + i, pc + k) for the mcur (a multiple of mr) rows
  /// of one M block: contiguous rows of kc, so the micro-kernel reads A from
  /// L2/L1 instead of from rows whose power-of-two strides share cache sets.
  void emitPackA(Value ap, Value batch, Value ic, Value mcur, Value pc,
                 Value kcur) {
    Value zero = zeroVec();
    forLoop(im.c(0), mcur, im.c(1), [&](Value i) {
      Value row = im.add(ic, i);
      Value dst = im.mul(i, cfg.kc);
      forLoop(im.c(0), kcur, im.c(cfg.vw), [&](Value k0) {
        Value mask = im.mask(cfg.vw, im.sub(kcur, k0));
        Value x = vector::MaskedLoadOp::create(
            b, loc, vecTy(), ops.a, idx(batch, row, im.add(pc, k0)), mask,
            zero);
        vector::StoreOp::create(b, loc, x, ap, ValueRange{im.add(dst, k0)});
      });
    });
  }

  /// C[ir:ir+rows, jc+jr:jc+jr+nr] += A[ir:ir+rows, pc:pc+kcur] * Bp[jr
  /// panel], reading A from the packed block `ap` (rows from `apRow`) when it
  /// is set.
  void emitTile(Value bp, Value ap, Value apRow, Value batch, Value ir,
                int64_t rows, Value jc, Value jr, Value ncur, Value pc,
                Value kcur) {
    int64_t nv = cfg.nr / cfg.vw;
    {
      Value left = im.sub(ncur, jr);
      SmallVector<Value> masks;
      for (int64_t v = 0; v < nv; ++v)
        masks.push_back(im.mask(cfg.vw, im.sub(left, im.c(v * cfg.vw))));
      Value zero = zeroVec();
      Value col0 = im.add(jc, jr);
      SmallVector<Value> rowIdx, colIdx;
      for (int64_t i = 0; i < rows; ++i)
        rowIdx.push_back(im.add(ir, i));
      for (int64_t v = 0; v < nv; ++v)
        colIdx.push_back(im.add(col0, v * cfg.vw));
      auto loadC = [&]() {
        SmallVector<Value> acc;
        for (int64_t i = 0; i < rows; ++i)
          for (int64_t v = 0; v < nv; ++v)
            acc.push_back(vector::MaskedLoadOp::create(
                b, loc, vecTy(), ops.c, idx(batch, rowIdx[i], colIdx[v]),
                masks[v], zero));
        return acc;
      };
      SmallVector<Value> acc;
      if (!fillValue) {
        acc = loadC();
      } else {
        // C was just filled with a scalar (folded away): the first K block
        // starts from it instead of reading C back from memory.
        Value first = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq,
                                            pc, im.c(0));
        SmallVector<Type> types(rows * nv, vecTy());
        auto ifOp = scf::IfOp::create(b, loc, types, first,
                                      /*withElseRegion=*/true);
        {
          OpBuilder::InsertionGuard g(b);
          b.setInsertionPointToStart(ifOp.thenBlock());
          Value splat = vector::BroadcastOp::create(b, loc, vecTy(), fillValue);
          scf::YieldOp::create(b, loc, SmallVector<Value>(rows * nv, splat));
          b.setInsertionPointToStart(ifOp.elseBlock());
          scf::YieldOp::create(b, loc, loadC());
        }
        acc.assign(ifOp.getResults().begin(), ifOp.getResults().end());
      }
      Value panel = im.mul(jr, cfg.kc);
      auto kLoop = scf::ForOp::create(
          b, loc, im.c(0), kcur, im.c(1), acc,
          [&](OpBuilder &lb, Location, Value k, ValueRange iter) {
            OpBuilder::InsertionGuard g(b);
            b.setInsertionPoint(lb.getInsertionBlock(),
                                lb.getInsertionPoint());
            Value src = im.add(panel, im.mul(k, cfg.nr));
            SmallVector<Value> bv;
            for (int64_t v = 0; v < nv; ++v)
              bv.push_back(vector::LoadOp::create(
                  b, loc, vecTy(), bp, ValueRange{im.add(src, v * cfg.vw)}));
            Value kk = im.add(pc, k);
            SmallVector<Value> next;
            for (int64_t i = 0; i < rows; ++i) {
              Value s =
                  ap ? memref::LoadOp::create(
                           b, loc, ap,
                           ValueRange{im.add(im.mul(im.add(apRow, i), cfg.kc),
                                             k)})
                     : memref::LoadOp::create(b, loc, ops.a,
                                              idx(batch, rowIdx[i], kk));
              Value sv = vector::BroadcastOp::create(b, loc, vecTy(), s);
              for (int64_t v = 0; v < nv; ++v)
                next.push_back(vector::FMAOp::create(b, loc, sv, bv[v],
                                                     iter[i * nv + v]));
            }
            scf::YieldOp::create(b, loc, next);
          });
      auto storeTo = [&](Value dst, bool applyEpilogue) {
        for (int64_t i = 0; i < rows; ++i)
          for (int64_t v = 0; v < nv; ++v) {
            SmallVector<Value> at = idx(batch, rowIdx[i], colIdx[v]);
            Value y = kLoop.getResult(i * nv + v);
            if (applyEpilogue)
              y = EpilogueEmitter(b, loc, *epilogue, cfg.vw)
                      .apply(y, at, masks[v]);
            vector::MaskedStoreOp::create(b, loc, dst, at, masks[v], y);
          }
      };
      if (!epilogue) {
        storeTo(ops.c, false);
        return;
      }
      // Earlier K blocks keep their partial sums in C; the last one applies
      // the epilogue and stores the consumer's output.
      Value last = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq,
                                         im.add(pc, kcur), kTotal);
      auto ifOp = scf::IfOp::create(b, loc, TypeRange{}, last,
                                    /*withElseRegion=*/true);
      OpBuilder::InsertionGuard g(b);
      b.setInsertionPointToStart(ifOp.thenBlock());
      storeTo(epilogue->out, true);
      b.setInsertionPointToStart(ifOp.elseBlock());
      storeTo(ops.c, false);
    }
  }
};

/// The linalg.fill of `c` right before `op` (only side-effect-free ops in
/// between), whose scalar the GEMM can start from instead of reading C.
linalg::FillOp findFoldableFill(Operation *op, Value c) {
  for (Operation *prev = op->getPrevNode(); prev; prev = prev->getPrevNode()) {
    if (auto fill = dyn_cast<linalg::FillOp>(prev)) {
      if (fill.hasPureBufferSemantics() && fill.getOutputs().size() == 1 &&
          fill.getOutputs()[0] == c && fill.getInputs()[0].getType().isF32())
        return fill;
      return {};
    }
    if (!isMemoryEffectFree(prev))
      return {};
  }
  return {};
}

struct MatmulVectorizePass
    : buddy::impl::MatmulVectorizeBase<MatmulVectorizePass> {
  using MatmulVectorizeBase::MatmulVectorizeBase;

  void runOnOperation() override {
    if (vectorWidth <= 0 || mr <= 0 || nr <= 0 || kc <= 0 || nc <= 0 ||
        nr % vectorWidth != 0 || kc % vectorWidth != 0 || mc <= 0 ||
        mc % mr != 0) {
      getOperation().emitError()
          << "buddy-matmul-vectorize: need positive options and nr ("
          << nr.getValue() << ") and kc (" << kc.getValue()
          << ") multiples of vector-width (" << vectorWidth.getValue()
          << "), mc (" << mc.getValue() << ") a multiple of mr ("
          << mr.getValue() << ")";
      return signalPassFailure();
    }
    GemmConfig cfg{vectorWidth, mr, nr, kc, nc, mc, threads, packA};
    SmallVector<std::pair<linalg::LinalgOp, MatmulOperands>> work;
    getOperation().walk([&](linalg::LinalgOp op) {
      if (auto m = matchMatmul(op)) {
        // Tiny problems (e.g. M = 1 GEMV) are left to buddy-gemv-vectorize
        // when M is statically below min-rows.
        auto cTy = cast<MemRefType>(m->c.getType());
        int64_t mDim = cTy.getShape()[cTy.getRank() - 2];
        if (!ShapedType::isDynamic(mDim) && mDim < minRows)
          return;
        work.emplace_back(op, *m);
      }
    });
    DominanceInfo dom(getOperation());
    for (auto &[op, m] : work) {
      OpBuilder b(op);
      linalg::FillOp fill = findFoldableFill(op, m.c);
      Value fillValue = fill ? fill.getInputs()[0] : Value();
      std::optional<Epilogue> epi;
      // K must be known non-zero: the epilogue runs in the last K block.
      int64_t k = cast<MemRefType>(m.a.getType()).getShape().back();
      if (fuseEpilogue && !ShapedType::isDynamic(k) && k > 0)
        epi = matchEpilogue(op, m.c, dom);
      GemmEmitter(b, op.getLoc(), m, cfg, fillValue, epi).emit();
      op->erase();
      if (fill)
        fill->erase();
      if (epi)
        epi->op->erase();
    }
  }
};

} // namespace
