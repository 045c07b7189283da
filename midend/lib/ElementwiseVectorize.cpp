//===- ElementwiseVectorize.cpp - vector rows for elementwise generics ----===//
//
// The linalg.generic ops that no Buddy kernel takes (activations, residual
// adds, casts, LayerNorm's statistics and normalization, masks) would become
// scalar loops (convert-linalg-to-parallel-loops) that LLVM does not
// vectorize once scf-to-openmp has outlined them. This pass writes them as
// vector rows along the innermost loop dimension (see Passes.td):
//
//   scf.parallel (outer parallel dims) | (chunks of one long row)
//     scf.for (outer reduction dims, in order)
//       the row, by the inner dim's iterator:
//   parallel (trailing dims collapsed when every map is identity):
//       per row: the operands that do not use the inner dim, loaded and
//                broadcast once
//       scf.for j step 2 * vw: 2 x (vector.load, body on vectors, store)
//       one more full vector, then a masked tail (maskedload / maskedstore)
//       (an output the body reads is loaded too: with outer reductions each
//       step reads, combines and writes back the output row)
//   a reduction (the outputs do not use it; each yields combiner(out, x),
//   the combiner one of arith's reductions; trailing reduction dims
//   contiguous in every operand that reads them collapse into one first):
//       acc = splat(neutral); scf.for j step vw: acc = combiner(acc, x(j))
//       masked tail: x's dead lanes replaced by the neutral element
//       out[outer] = combiner(out[outer], vector.reduction(acc))
//
// Outputs read no reduction dim and every outer parallel dim, so no two
// parallel tasks write the same element.
//
// The body is cloned op by op with vector types: every op must be an
// elementwise-mappable arith/math op, an arith.constant or a linalg.index.
// Anything else (other ops, dynamic shapes, strided inner dims, transposed
// access along the inner dim, i1 buffers) keeps the generic lowering.
//
//===----------------------------------------------------------------------===//

#include "KernelEmitter.h"
#include "buddy/ElementwiseVectorize.h"
#include "buddy/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/OpDefinition.h"
#include "llvm/ADT/SmallBitVector.h"
#include "llvm/ADT/TypeSwitch.h"

namespace buddy {
#define GEN_PASS_DEF_ELEMENTWISEVECTORIZE
#include "buddy/Passes.h.inc"
} // namespace buddy

using namespace mlir;

namespace {

/// Elements per parallel task when the whole op is one row.
constexpr int64_t kChunk = 4096;

/// How an operand is read along the innermost loop dimension.
enum class Along { Contiguous, Broadcast };

struct Operand {
  Value memref;
  AffineMap map;
  Along along;
  BlockArgument arg;
};

/// A reduction output: out = combiner(out, x).
struct Reduction {
  Operation *combiner;
  Value x;
  vector::CombiningKind kind;
  TypedAttr neutral;
};

struct Plan {
  SmallVector<Operand> ins, outs;
  SmallVector<int64_t> ranges; // loop ranges (after any collapse)
  SmallVector<bool> outerRed;  // per outer dim: a reduction (an scf.for)
  bool reduction = false;      // the inner dim is a reduction
  SmallVector<Reduction> reds; // one per output when `reduction`
};

std::optional<vector::CombiningKind> kindOf(Operation *op) {
  using K = vector::CombiningKind;
  return llvm::TypeSwitch<Operation *, std::optional<K>>(op)
      .Case<arith::AddFOp, arith::AddIOp>([](auto) { return K::ADD; })
      .Case<arith::MulFOp, arith::MulIOp>([](auto) { return K::MUL; })
      .Case<arith::MaxNumFOp>([](auto) { return K::MAXNUMF; })
      .Case<arith::MinNumFOp>([](auto) { return K::MINNUMF; })
      .Case<arith::MaximumFOp>([](auto) { return K::MAXIMUMF; })
      .Case<arith::MinimumFOp>([](auto) { return K::MINIMUMF; })
      .Case<arith::MaxSIOp>([](auto) { return K::MAXSI; })
      .Case<arith::MinSIOp>([](auto) { return K::MINSI; })
      .Case<arith::MaxUIOp>([](auto) { return K::MAXUI; })
      .Case<arith::MinUIOp>([](auto) { return K::MINUI; })
      .Case<arith::AndIOp>([](auto) { return K::AND; })
      .Case<arith::OrIOp>([](auto) { return K::OR; })
      .Case<arith::XOrIOp>([](auto) { return K::XOR; })
      .Default([](Operation *) { return std::nullopt; });
}

bool scalarType(Type t) {
  return t.isIntOrIndexOrFloat();
}

/// Static strides of `v` (a statically shaped memref), else nullopt.
std::optional<SmallVector<int64_t>> staticStrides(Value v) {
  auto t = dyn_cast<MemRefType>(v.getType());
  if (!t || !t.hasStaticShape())
    return std::nullopt;
  SmallVector<int64_t> strides;
  int64_t offset;
  if (failed(t.getStridesAndOffset(strides, offset)) ||
      llvm::any_of(strides, ShapedType::isDynamic))
    return std::nullopt;
  return strides;
}

/// Whether every body op can be cloned with vector types.
bool vectorizableBody(linalg::GenericOp op, const DenseSet<Operation *> &skip) {
  for (Operation &o : op.getBody()->without_terminator()) {
    if (skip.contains(&o) || isa<arith::ConstantOp, linalg::IndexOp>(o))
      continue;
    // math.fpowi's exponent must stay a scalar for llvm.intr.powi. Integer
    // division traps on a zero divisor, which the masked tail's dead lanes
    // would be (and no CPU target has a vector integer divide anyway).
    if (o.getNumRegions() || !OpTrait::hasElementwiseMappableTraits(&o) ||
        isa<math::FPowIOp, arith::DivSIOp, arith::DivUIOp, arith::RemSIOp,
            arith::RemUIOp, arith::CeilDivSIOp, arith::CeilDivUIOp,
            arith::FloorDivSIOp>(o))
      return false;
    auto *d = o.getDialect();
    if (!isa_and_nonnull<arith::ArithDialect, math::MathDialect>(d))
      return false;
    for (Type t : o.getResultTypes())
      if (!scalarType(t))
        return false;
    for (Value v : o.getOperands())
      if (!scalarType(v.getType()))
        return false;
  }
  return true;
}

/// Number of trailing loop dims that can be collapsed into one: every map is
/// the identity, every operand has the same shape and is contiguous there,
/// and the body does not ask for loop indices.
int64_t collapsibleTail(linalg::GenericOp op) {
  int64_t n = op.getNumLoops();
  if (!op.getBody()->getOps<linalg::IndexOp>().empty())
    return 1;
  for (AffineMap m : op.getIndexingMapsArray())
    if (!m.isIdentity())
      return 1;
  SmallVector<int64_t> ranges = op.getStaticLoopRanges();
  int64_t k = 1;
  for (; k < n; ++k) {
    int64_t i = n - 1 - k;
    bool ok = llvm::all_of(op->getOperands(), [&](Value v) {
      auto s = staticStrides(v);
      return s && (*s)[i] == (*s)[i + 1] * ranges[i + 1];
    });
    if (!ok)
      break;
  }
  return k;
}

/// How many trailing reduction dims (>= 2, else 0) collapse into one: every
/// operand either reads none of them or reads all of them, in order, as its
/// last results, contiguous in its buffer; the body asks for none of their
/// indices.
int64_t collapsibleReductions(linalg::GenericOp op) {
  int64_t n = op.getNumLoops();
  auto iters = op.getIteratorTypesArray();
  int64_t t = 0;
  while (t < n && iters[n - 1 - t] == utils::IteratorType::reduction)
    ++t;
  if (t < 2 || !op.hasPureBufferSemantics())
    return 0;
  for (linalg::IndexOp ix : op.getBody()->getOps<linalg::IndexOp>())
    t = std::min<int64_t>(t, n - 1 - ix.getDim());
  for (int64_t k = t; k >= 2; --k) {
    bool ok = llvm::all_of(op->getOpOperands(), [&](OpOperand &o) {
      AffineMap m = op.getMatchingIndexingMap(&o);
      auto strides = staticStrides(o.get());
      if (!strides)
        return false;
      auto shape = cast<MemRefType>(o.get().getType()).getShape();
      int64_t r = m.getNumResults(), reads = 0;
      for (auto [i, e] : llvm::enumerate(m.getResults())) {
        if (isa<AffineConstantExpr>(e))
          continue;
        auto d = dyn_cast<AffineDimExpr>(e);
        if (!d)
          return false;
        if (d.getPosition() < n - k)
          continue;
        // The j-th collapsed dim must be result r - k + j.
        if ((int64_t)i != r - k + (d.getPosition() - (n - k)))
          return false;
        ++reads;
      }
      if (reads == 0)
        return true;
      if (reads != k)
        return false;
      for (int64_t i = r - k; i + 1 < r; ++i)
        if ((*strides)[i] != (*strides)[i + 1] * shape[i + 1])
          return false;
      return true;
    });
    if (ok)
      return k;
  }
  return 0;
}

/// A copy of `op` with its last `k` (reduction) dims collapsed into one, on
/// memref.collapse_shape views of the operands that read them.
linalg::GenericOp collapseReductions(OpBuilder &b, linalg::GenericOp op,
                                     int64_t k) {
  Location loc = op.getLoc();
  int64_t n = op.getNumLoops();
  int64_t nn = n - k + 1;
  SmallVector<Value> operands;
  SmallVector<AffineMap> maps;
  for (OpOperand &o : op->getOpOperands()) {
    AffineMap m = op.getMatchingIndexingMap(&o);
    int64_t r = m.getNumResults();
    bool reads = llvm::any_of(m.getResults(), [&](AffineExpr e) {
      auto d = dyn_cast<AffineDimExpr>(e);
      return d && d.getPosition() >= n - k;
    });
    SmallVector<AffineExpr> res(m.getResults().begin(), m.getResults().end());
    Value v = o.get();
    if (reads) {
      v = memref::CollapseShapeOp::create(b, loc, v,
                                          buddy::kernel::collapseTrailing(r, k));
      res.resize(r - k);
      res.push_back(b.getAffineDimExpr(n - k));
    }
    operands.push_back(v);
    maps.push_back(AffineMap::get(nn, 0, res, b.getContext()));
  }
  auto iters = op.getIteratorTypesArray();
  iters.resize(nn);
  int64_t nIn = op.getNumDpsInputs();
  auto g = linalg::GenericOp::create(
      b, loc, ValueRange(operands).take_front(nIn),
      ValueRange(operands).drop_front(nIn), maps, iters);
  IRMapping none;
  op.getRegion().cloneInto(&g.getRegion(), none);
  return g;
}

std::optional<Plan> match(linalg::GenericOp op) {
  if (!op.hasPureBufferSemantics() || op.getNumLoops() == 0 ||
      op.getNumDpsInits() == 0)
    return std::nullopt;
  int64_t n = op.getNumLoops();
  auto iters = op.getIteratorTypesArray();
  bool reduction = iters[n - 1] == utils::IteratorType::reduction;
  SmallVector<bool> outerRed;
  for (int64_t i = 0; i + 1 < n; ++i)
    outerRed.push_back(iters[i] == utils::IteratorType::reduction);
  for (Value v : op->getOperands()) {
    auto t = dyn_cast<MemRefType>(v.getType());
    if (!t || !staticStrides(v) || !t.getElementType().isIntOrFloat() ||
        t.getElementType().isInteger(1))
      return std::nullopt;
  }
  Plan p;
  p.reduction = reduction;
  p.outerRed = outerRed;
  p.ranges = op.getStaticLoopRanges();
  if (llvm::any_of(p.ranges, [](int64_t r) { return r <= 0; }))
    return std::nullopt;
  // Classify every operand along the inner dim.
  auto classify = [&](OpOperand &o) -> std::optional<Operand> {
    AffineMap m = op.getMatchingIndexingMap(&o);
    auto strides = *staticStrides(o.get());
    std::optional<Along> along;
    for (auto [r, e] : llvm::enumerate(m.getResults())) {
      if (auto c = dyn_cast<AffineConstantExpr>(e)) {
        if (c.getValue() != 0)
          return std::nullopt;
        continue;
      }
      auto d = dyn_cast<AffineDimExpr>(e);
      if (!d)
        return std::nullopt;
      if (d.getPosition() == n - 1) {
        if (r + 1 != m.getNumResults() || strides.back() != 1)
          return std::nullopt;
        along = Along::Contiguous;
      }
    }
    return Operand{o.get(), m, along.value_or(Along::Broadcast),
                   op.getMatchingBlockArgument(&o)};
  };
  for (OpOperand *o : op.getDpsInputOperands()) {
    auto c = classify(*o);
    if (!c)
      return std::nullopt;
    p.ins.push_back(*c);
  }
  auto yield = cast<linalg::YieldOp>(op.getBody()->getTerminator());
  DenseSet<Operation *> combiners;
  for (OpOperand &o : op.getDpsInitsMutable()) {
    auto c = classify(o);
    if (!c)
      return std::nullopt;
    if ((c->along == Along::Contiguous) == reduction)
      return std::nullopt;
    // Every output element belongs to one parallel task and is accumulated
    // in order: the map reads no reduction dim and every outer parallel dim
    // (of range > 1) that the scf.parallel splits.
    llvm::SmallBitVector used(n);
    for (AffineExpr e : c->map.getResults())
      if (auto d = dyn_cast<AffineDimExpr>(e)) {
        if (used.test(d.getPosition()))
          return std::nullopt;
        used.set(d.getPosition());
      }
    for (int64_t i = 0; i + 1 < n; ++i)
      if (outerRed[i] ? used.test(i) : (!used.test(i) && p.ranges[i] > 1))
        return std::nullopt;
    p.outs.push_back(*c);
    if (!reduction)
      continue;
    // out = combiner(out, x): the output's only use.
    Value y = yield.getOperand(p.outs.size() - 1);
    Operation *comb = y.getDefiningOp();
    BlockArgument arg = c->arg;
    if (!comb || comb->getBlock() != op.getBody() || !arg.hasOneUse() ||
        comb->getNumOperands() != 2 || !llvm::is_contained(comb->getOperands(), arg) ||
        !comb->getResult(0).hasOneUse())
      return std::nullopt;
    auto kind = kindOf(comb);
    auto neutral = arith::getNeutralElement(comb);
    if (!kind || !neutral)
      return std::nullopt;
    Value x = comb->getOperand(0) == arg ? comb->getOperand(1) : comb->getOperand(0);
    p.reds.push_back(Reduction{comb, x, *kind, *neutral});
    combiners.insert(comb);
  }
  if (!vectorizableBody(op, combiners))
    return std::nullopt;
  return p;
}

class Emitter {
public:
  Emitter(OpBuilder &b, Location loc, linalg::GenericOp op, Plan &p,
          int64_t lanes)
      : b(b), loc(loc), op(op), p(p), lanes(lanes) {
    for (const Reduction &r : p.reds)
      combiners.insert(r.combiner);
  }

  /// The loops over the outer dims, sequential or parallel.
  void emit(bool parallel, int64_t minParallel) {
    int64_t n = p.ranges.size();
    int64_t total = 1;
    for (int64_t r : p.ranges)
      total *= r;
    bool par = parallel && total >= minParallel;
    int64_t len = p.ranges.back();
    SmallVector<int64_t> outer(p.ranges.begin(), p.ranges.end() - 1);
    OpBuilder::InsertionGuard g(b);
    if (n == 1 && par && !p.reduction && len > 2 * kChunk) {
      // One long row: parallel over chunks of it.
      int64_t chunks = llvm::divideCeil(len, kChunk);
      auto pl = scf::ParallelOp::create(b, loc, ValueRange{c(0)},
                                        ValueRange{c(chunks)}, ValueRange{c(1)});
      b.setInsertionPoint(pl.getBody()->getTerminator());
      Value lo = arith::MulIOp::create(b, loc, pl.getInductionVars()[0], c(kChunk));
      int64_t lastLo = (chunks - 1) * kChunk;
      // Every chunk but the last is kChunk long (a multiple of 2 * lanes).
      Value isLast = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, lo,
                                           c(lastLo));
      auto ifOp = scf::IfOp::create(b, loc, isLast, /*withElseRegion=*/true);
      {
        OpBuilder::InsertionGuard g2(b);
        b.setInsertionPoint(ifOp.thenBlock()->getTerminator());
        row({}, lastLo, len);
        b.setInsertionPoint(ifOp.elseBlock()->getTerminator());
        rowFrom({}, lo, kChunk);
      }
      return;
    }
    if (outer.empty())
      return row({}, 0, len);
    // The outer parallel dims (an scf.parallel when there is work for more
    // than one task), then the outer reduction dims (scf.for, in order).
    SmallVector<Value> ivs(outer.size());
    SmallVector<int64_t> parDims, redDims;
    int64_t parWork = 1;
    for (auto [i, u] : llvm::enumerate(outer)) {
      if (p.outerRed[i]) {
        redDims.push_back(i);
      } else {
        parDims.push_back(i);
        parWork *= u;
      }
    }
    auto nest = [&](ArrayRef<int64_t> dims, bool parallelNest) {
      if (dims.empty())
        return;
      SmallVector<Value> lb, ub, st;
      for (int64_t d : dims) {
        lb.push_back(c(0));
        ub.push_back(c(outer[d]));
        st.push_back(c(1));
      }
      if (parallelNest) {
        auto pl = scf::ParallelOp::create(b, loc, lb, ub, st);
        b.setInsertionPoint(pl.getBody()->getTerminator());
        for (auto [d, iv] : llvm::zip(dims, pl.getInductionVars()))
          ivs[d] = iv;
        return;
      }
      scf::LoopNest ln = scf::buildLoopNest(b, loc, lb, ub, st);
      b.setInsertionPoint(ln.loops.back().getBody()->getTerminator());
      for (auto [d, l] : llvm::zip(dims, ln.loops))
        ivs[d] = l.getInductionVar();
    };
    nest(parDims, par && parWork > 1);
    nest(redDims, false);
    row(ivs, 0, len);
  }

private:
  OpBuilder &b;
  Location loc;
  linalg::GenericOp op;
  Plan &p;
  int64_t lanes;
  SmallVector<Value> outerIvs;
  IRMapping rowValues; // per row: broadcast operands and captured values
  DenseSet<Operation *> combiners; // the reductions' combiners (not cloned)

  Value c(int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); }

  VectorType vec(Type t) { return VectorType::get({lanes}, t); }

  Type elt(Value memref) {
    return cast<MemRefType>(memref.getType()).getElementType();
  }

  SmallVector<Value> indices(const Operand &o, Value j) {
    SmallVector<Value> idx;
    for (AffineExpr e : o.map.getResults()) {
      if (isa<AffineConstantExpr>(e)) {
        idx.push_back(c(0));
        continue;
      }
      unsigned d = cast<AffineDimExpr>(e).getPosition();
      idx.push_back(d < outerIvs.size() ? outerIvs[d] : j);
    }
    return idx;
  }

  /// The row's loop-invariant values: broadcast operands, captured scalars.
  void prepareRow(ValueRange ivs) {
    outerIvs.assign(ivs.begin(), ivs.end());
    rowValues.clear();
    for (const Operand &o : p.ins)
      if (o.along == Along::Broadcast && !o.arg.use_empty()) {
        Value s = memref::LoadOp::create(b, loc, o.memref, indices(o, Value()));
        rowValues.map(o.arg, vector::BroadcastOp::create(b, loc, vec(s.getType()), s));
      }
    for (Operation &inner : *op.getBody())
      for (Value v : inner.getOperands())
        if (v.getParentRegion() != &op.getRegion() && !rowValues.contains(v))
          rowValues.map(v, vector::BroadcastOp::create(b, loc, vec(v.getType()), v));
  }

  /// The body at columns [j, j + lanes) (`mask`: the live lanes, or null);
  /// returns the yielded vectors (for a reduction: the x of each output).
  SmallVector<Value> body(Value j, Value mask) {
    IRMapping m = rowValues;
    for (const Operand &o : p.ins)
      if (o.along == Along::Contiguous && !o.arg.use_empty())
        m.map(o.arg, load(o, j, mask));
    if (!p.reduction)
      for (const Operand &o : p.outs)
        if (!o.arg.use_empty())
          m.map(o.arg, load(o, j, mask));
    for (Operation &inner : op.getBody()->without_terminator()) {
      if (combiners.contains(&inner))
        continue;
      if (auto k = dyn_cast<arith::ConstantOp>(inner)) {
        auto t = vec(k.getType());
        m.map(k.getResult(), arith::ConstantOp::create(
                                 b, loc, t, DenseElementsAttr::get(t, k.getValue())));
        continue;
      }
      if (auto ix = dyn_cast<linalg::IndexOp>(inner)) {
        uint64_t d = ix.getDim();
        Value v;
        if (d < outerIvs.size()) {
          v = vector::BroadcastOp::create(b, loc, vec(b.getIndexType()), outerIvs[d]);
        } else {
          Value step = vector::StepOp::create(b, loc, vec(b.getIndexType()));
          Value base = vector::BroadcastOp::create(b, loc, vec(b.getIndexType()), j);
          v = arith::AddIOp::create(b, loc, base, step);
        }
        m.map(ix.getResult(), v);
        continue;
      }
      Operation *cl = b.clone(inner, m);
      for (Value r : cl->getResults())
        r.setType(vec(r.getType()));
    }
    SmallVector<Value> out;
    if (p.reduction) {
      for (const Reduction &r : p.reds)
        out.push_back(m.lookupOrDefault(r.x));
    } else {
      for (Value y : op.getBody()->getTerminator()->getOperands())
        out.push_back(m.lookupOrDefault(y));
    }
    return out;
  }

  Value load(const Operand &o, Value j, Value mask) {
    auto t = vec(elt(o.memref));
    SmallVector<Value> idx = indices(o, j);
    if (!mask)
      return vector::LoadOp::create(b, loc, t, o.memref, idx);
    Value pad = arith::ConstantOp::create(b, loc, t, b.getZeroAttr(t));
    return vector::MaskedLoadOp::create(b, loc, t, o.memref, idx, mask, pad);
  }

  void store(const Operand &o, Value v, Value j, Value mask) {
    SmallVector<Value> idx = indices(o, j);
    if (!mask)
      vector::StoreOp::create(b, loc, v, o.memref, idx);
    else
      vector::MaskedStoreOp::create(b, loc, o.memref, idx, mask, v);
  }

  Value tailMask(int64_t count) {
    return vector::ConstantMaskOp::create(
        b, loc, VectorType::get({lanes}, b.getI1Type()), ArrayRef<int64_t>{count});
  }

  /// One row, columns [from, len) (from: a multiple of 2 * lanes).
  void row(ValueRange ivs, int64_t from, int64_t len) {
    prepareRow(ivs);
    if (p.reduction)
      return reductionRow(len);
    int64_t full = from + ((len - from) / lanes) * lanes;
    int64_t paired = from + ((full - from) / (2 * lanes)) * (2 * lanes);
    if (paired > from)
      pairedLoop(c(from), c(paired));
    for (int64_t j = paired; j < full; j += lanes)
      storeAll(body(c(j), Value()), c(j), Value());
    if (full < len) {
      Value mask = tailMask(len - full);
      storeAll(body(c(full), mask), c(full), mask);
    }
  }

  /// `count` (a multiple of 2 * lanes) columns from the dynamic `lo`.
  void rowFrom(ValueRange ivs, Value lo, int64_t count) {
    prepareRow(ivs);
    pairedLoop(lo, arith::AddIOp::create(b, loc, lo, c(count)));
  }

  void pairedLoop(Value lo, Value hi) {
    auto f = scf::ForOp::create(b, loc, lo, hi, c(2 * lanes));
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPoint(f.getBody()->getTerminator());
    Value j0 = f.getInductionVar();
    Value j1 = arith::AddIOp::create(b, loc, j0, c(lanes));
    SmallVector<Value> y0 = body(j0, Value());
    SmallVector<Value> y1 = body(j1, Value());
    storeAll(y0, j0, Value());
    storeAll(y1, j1, Value());
  }

  void storeAll(ArrayRef<Value> ys, Value j, Value mask) {
    for (auto [o, y] : llvm::zip(p.outs, ys))
      store(o, y, j, mask);
  }

  Value combine(const Reduction &r, Value acc, Value x) {
    IRMapping m;
    Operation *comb = r.combiner;
    Value other = comb->getOperand(0) == r.x ? comb->getOperand(1) : comb->getOperand(0);
    m.map(other, acc);
    m.map(r.x, x);
    Operation *cl = b.clone(*comb, m);
    cl->getResult(0).setType(acc.getType());
    return cl->getResult(0);
  }

  void reductionRow(int64_t len) {
    int64_t full = (len / lanes) * lanes;
    SmallVector<Value> init;
    for (const Reduction &r : p.reds) {
      auto t = vec(r.neutral.getType());
      init.push_back(arith::ConstantOp::create(b, loc, t,
                                               DenseElementsAttr::get(t, r.neutral)));
    }
    SmallVector<Value> accs = init;
    if (full > 0) {
      auto f = scf::ForOp::create(b, loc, c(0), c(full), c(lanes), init);
      OpBuilder::InsertionGuard g(b);
      b.setInsertionPoint(f.getBody(), f.getBody()->end());
      SmallVector<Value> xs = body(f.getInductionVar(), Value());
      SmallVector<Value> next;
      for (auto [r, acc, x] : llvm::zip(p.reds, f.getRegionIterArgs(), xs))
        next.push_back(combine(r, acc, x));
      scf::YieldOp::create(b, loc, next);
      accs = SmallVector<Value>(f.getResults());
    }
    if (full < len) {
      Value mask = tailMask(len - full);
      SmallVector<Value> xs = body(c(full), mask);
      for (auto [i, r] : llvm::enumerate(p.reds)) {
        Value x = arith::SelectOp::create(b, loc, mask, xs[i], init[i]);
        accs[i] = combine(r, accs[i], x);
      }
    }
    for (auto [i, r] : llvm::enumerate(p.reds)) {
      Value s = vector::ReductionOp::create(b, loc, r.kind, accs[i]);
      const Operand &o = p.outs[i];
      SmallVector<Value> idx = indices(o, Value());
      Value old = memref::LoadOp::create(b, loc, o.memref, idx);
      IRMapping m;
      Operation *comb = r.combiner;
      m.map(o.arg, old);
      m.map(r.x, s);
      Value v = b.clone(*comb, m)->getResult(0);
      memref::StoreOp::create(b, loc, v, o.memref, idx);
    }
  }
};

} // namespace

bool buddy::vectorizeElementwise(linalg::GenericOp op,
                                 const ElementwiseVectorizeConfig &config) {
  OpBuilder b(op);
  Location loc = op.getLoc();
  // Trailing reductions contiguous in every operand: one long inner
  // reduction on collapsed views (else the outer ones become scf.for loops).
  if (int64_t k = collapsibleReductions(op)) {
    linalg::GenericOp g = collapseReductions(b, op, k);
    if (std::optional<Plan> p = match(g)) {
      Emitter(b, loc, g, *p, config.lanes).emit(config.parallel, config.minParallel);
      g->erase();
      op->erase();
      return true;
    }
    SmallVector<Value> views(g->getOperands());
    g->erase();
    for (Value v : views)
      if (auto cs = v.getDefiningOp<memref::CollapseShapeOp>())
        if (cs->use_empty())
          cs->erase();
  }
  std::optional<Plan> p = match(op);
  if (!p)
    return false;
  if (!p->reduction) {
    int64_t k = collapsibleTail(op);
    if (k > 1) {
      int64_t n = p->ranges.size();
      auto re = buddy::kernel::collapseTrailing(n, k);
      int64_t inner = 1;
      for (int64_t i = n - k; i < n; ++i)
        inner *= p->ranges[i];
      p->ranges.resize(n - k + 1);
      p->ranges.back() = inner;
      AffineMap id = b.getMultiDimIdentityMap(n - k + 1);
      for (auto *list : {&p->ins, &p->outs})
        for (Operand &o : *list) {
          o.memref = memref::CollapseShapeOp::create(b, loc, o.memref, re);
          o.map = id;
        }
    }
  }
  Emitter(b, loc, op, *p, config.lanes).emit(config.parallel, config.minParallel);
  op->erase();
  return true;
}

namespace {

struct ElementwiseVectorizePass
    : buddy::impl::ElementwiseVectorizeBase<ElementwiseVectorizePass> {
  using ElementwiseVectorizeBase::ElementwiseVectorizeBase;

  void runOnOperation() override {
    if (vectorWidth <= 0 || minParallel < 0) {
      getOperation().emitError()
          << "buddy-elementwise-vectorize: vector-width must be positive and "
             "min-parallel non-negative";
      return signalPassFailure();
    }
    SmallVector<linalg::GenericOp> work;
    getOperation().walk([&](linalg::GenericOp op) { work.push_back(op); });
    buddy::ElementwiseVectorizeConfig config{vectorWidth, parallel, minParallel};
    for (linalg::GenericOp op : work)
      buddy::vectorizeElementwise(op, config);
  }
};

} // namespace
