//===- Pipelines.cpp - Buddy named pass pipelines --------------------------===//
//
// `--buddy-cpu-pipeline`: linalg on tensors -> LLVM dialect for a CPU target.
// `--buddy-gemmini-pipeline`: int8 linalg matmuls on memrefs -> Gemmini RoCC
// instructions, the rest lowered for the RISC-V core.
// This is the one place the lowerings are written down (buildCpuPipeline,
// buildGemminiPipeline: typed pass-manager calls); Python (backend/) and CMake
// call them by name. Options are documented in midend/README.md.
//
//===----------------------------------------------------------------------===//

#include "buddy/Pipelines.h"
#include "buddy/Passes.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Conversion/TosaToLinalg/TosaToLinalg.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/Transforms/RequestCWrappers.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/Support/MathExtras.h"
#include "llvm/Support/raw_ostream.h"

#include <optional>
#include <string>

using namespace mlir;

namespace {

/// The options of every named pipeline: the entry's rename and its packed
/// interface (the same names and meaning in each).
template <typename T>
struct EntryCLOptions : PassPipelineOptions<T> {
  detail::PassOptions::Option<bool> packedInterface{
      *this, "packed-interface",
      llvm::cl::desc("Emit C wrappers and the `_buddy_<f>(void**)` entry "
                     "points (buddy-emit-packed-interface)"),
      llvm::cl::init(true)};
  detail::PassOptions::Option<std::string> renameFrom{
      *this, "rename-from",
      llvm::cl::desc("Rename this entry function first (buddy-rename-entry); "
                     "empty = no rename"),
      llvm::cl::init("")};
  detail::PassOptions::Option<std::string> renameTo{
      *this, "rename-to",
      llvm::cl::desc("New name of the `rename-from` function"),
      llvm::cl::init("")};
  template <typename Options> void copyEntryTo(Options &o) const {
    o.packedInterface = packedInterface;
    o.renameFrom = renameFrom;
    o.renameTo = renameTo;
  }
};

/// The registered pipeline's option string; converts to buddy::CpuPipelineOptions.
struct CpuPipelineCLOptions : EntryCLOptions<CpuPipelineCLOptions> {
  Option<std::string> target{
      *this, "target",
      llvm::cl::desc("Vector ISA: avx512 (16 f32 lanes), avx2 (8), "
                     "neon/generic (4)"),
      llvm::cl::init("avx512")};
  Option<int64_t> threads{*this, "threads",
                          llvm::cl::desc("Threads the GEMM N panels are "
                                         "balanced for (the OpenMP thread "
                                         "count itself is set at run time)"),
                          llvm::cl::init(2)};
  Option<int64_t> mr{*this, "mr",
                     llvm::cl::desc("GEMM register tile rows (0 = target default)"),
                     llvm::cl::init(0)};
  Option<int64_t> nr{*this, "nr",
                     llvm::cl::desc("GEMM register tile columns (0 = target default)"),
                     llvm::cl::init(0)};
  Option<int64_t> kc{*this, "kc", llvm::cl::desc("GEMM K cache block"),
                     llvm::cl::init(256)};
  Option<int64_t> nc{*this, "nc", llvm::cl::desc("GEMM N panel"),
                     llvm::cl::init(256)};
  Option<int64_t> mc{*this, "mc",
                     llvm::cl::desc("GEMM M block (rounded up to a multiple of mr)"),
                     llvm::cl::init(128)};
  Option<bool> fuseEpilogue{
      *this, "fuse-epilogue",
      llvm::cl::desc("GEMM: apply an elementwise consumer of the result "
                     "(bias, activation, residual) in the kernel"),
      llvm::cl::init(true)};
  Option<bool> packA{*this, "pack-a",
                     llvm::cl::desc("GEMM: copy each register tile's rows of A "
                                    "into a contiguous buffer"),
                     llvm::cl::init(false)};
  Option<int64_t> gemvMaxRows{
      *this, "gemv-max-rows",
      llvm::cl::desc("matmuls with static M <= this use the GEMV kernel"),
      llvm::cl::init(4)};
  Option<int64_t> gemvRows{
      *this, "gemv-rows",
      llvm::cl::desc("GEMV: weight rows per step for B as (n, k)"),
      llvm::cl::init(8)};
  Option<int64_t> gemvChunk{
      *this, "gemv-chunk",
      llvm::cl::desc("GEMV: output columns per parallel task for B as (n, k)"),
      llvm::cl::init(64)};
  Option<std::string> int8Dot{
      *this, "int8-dot",
      llvm::cl::desc("Quantized decode GEMVs with int8 activations: none | "
                     "avx512-vnni (target=avx512 only)"),
      llvm::cl::init("none")};
  Option<bool> parallelLoops{
      *this, "parallel-loops",
      llvm::cl::desc("Lower the remaining linalg ops to scf.parallel (OpenMP) "
                     "instead of sequential loops"),
      llvm::cl::init(true)};
  Option<bool> fuseElementwise{
      *this, "fuse-elementwise",
      llvm::cl::desc("Fuse elementwise linalg.generic chains on tensors "
                     "(buddy-fuse-elementwise)"),
      llvm::cl::init(true)};
  Option<bool> convVectorize{
      *this, "conv-vectorize",
      llvm::cl::desc("Vectorize 2-D convolutions and pooling "
                     "(buddy-conv2d-vectorize, buddy-pooling-vectorize)"),
      llvm::cl::init(true)};
  Option<bool> fillCopyVectorize{
      *this, "fill-copy-vectorize",
      llvm::cl::desc("Vector row loops for the remaining linalg.fill / "
                     "linalg.copy (buddy-fill-copy-vectorize)"),
      llvm::cl::init(true)};
  Option<bool> elementwiseVectorize{
      *this, "elementwise-vectorize",
      llvm::cl::desc("Vector rows for the remaining elementwise and "
                     "inner-reduction linalg.generic ops "
                     "(buddy-elementwise-vectorize)"),
      llvm::cl::init(true)};
  Option<bool> mathApproximation{
      *this, "math-approximation",
      llvm::cl::desc("Inline polynomials for f32 exp/tanh/erf after the "
                     "kernels (buddy-math-approximation); 0 = libm/LLVM "
                     "intrinsics"),
      llvm::cl::init(true)};
  Option<int64_t> convOcBlock{
      *this, "conv-oc-block",
      llvm::cl::desc("NCHW conv register tile: output channels (0 = target "
                     "default: 8 for avx512, else 4)"),
      llvm::cl::init(0)};
  Option<int64_t> convOwVectors{
      *this, "conv-ow-vectors",
      llvm::cl::desc("NCHW conv register tile: vectors along the output width "
                     "(0 = default 2)"),
      llvm::cl::init(0)};
  Option<bool> outline{
      *this, "outline",
      llvm::cl::desc("Outline each distinct top-level loop nest into its own "
                     "function (buddy-outline-loop-nests)"),
      llvm::cl::init(true)};
  Option<int64_t> convOhBlock{
      *this, "conv-oh-block",
      llvm::cl::desc("NCHW conv register tile: output rows"),
      llvm::cl::init(1)};
  Option<int64_t> convCBlock{
      *this, "conv-c-block",
      llvm::cl::desc("NCHW conv: input channels per pass over a row (0 = all)"),
      llvm::cl::init(32)};
  Option<bool> convGemm1x1{
      *this, "conv-gemm-1x1",
      llvm::cl::desc("NCHW 1x1 stride-1 convolutions -> linalg.matmul for the "
                     "GEMM kernels (else the direct conv kernel)"),
      llvm::cl::init(true)};
  Option<bool> fromTosa{*this, "from-tosa",
                        llvm::cl::desc("Input is TOSA: lower it to Linalg first"),
                        llvm::cl::init(false)};
  Option<bool> deallocation{
      *this, "deallocation",
      llvm::cl::desc("Free bufferization's temporaries (buffer-deallocation-pipeline); "
                     "0 only where MLIR 22 cannot lower the deallocation"),
      llvm::cl::init(true)};
  Option<bool> kernels{
      *this, "kernels",
      llvm::cl::desc("Buddy kernels (GEMM/GEMV, conv/pooling, elementwise "
                     "fusion, fold-transpose); 0 = reference lowering: linalg "
                     "-> (parallel) loops (the softmax/RMSNorm row kernels "
                     "stay: nothing else lowers linalg.softmax)"),
      llvm::cl::init(true)};
  buddy::CpuPipelineOptions toStruct() const {
    buddy::CpuPipelineOptions o;
    copyEntryTo(o);
    o.target = target;
    o.kernels = kernels;
    o.threads = threads;
    o.mr = mr;
    o.nr = nr;
    o.kc = kc;
    o.nc = nc;
    o.mc = mc;
    o.fuseEpilogue = fuseEpilogue;
    o.packA = packA;
    o.gemvMaxRows = gemvMaxRows;
    o.gemvRows = gemvRows;
    o.gemvChunk = gemvChunk;
    o.int8Dot = int8Dot;
    o.parallelLoops = parallelLoops;
    o.fuseElementwise = fuseElementwise;
    o.convVectorize = convVectorize;
    o.fillCopyVectorize = fillCopyVectorize;
    o.elementwiseVectorize = elementwiseVectorize;
    o.mathApproximation = mathApproximation;
    o.convOcBlock = convOcBlock;
    o.convOwVectors = convOwVectors;
    o.outline = outline;
    o.convOhBlock = convOhBlock;
    o.convCBlock = convCBlock;
    o.convGemm1x1 = convGemm1x1;
    o.fromTosa = fromTosa;
    o.deallocation = deallocation;
    return o;
  }
};

/// The option string of `--buddy-gemmini-pipeline`; converts to
/// buddy::GemminiPipelineOptions.
struct GemminiPipelineCLOptions : EntryCLOptions<GemminiPipelineCLOptions> {
  Option<std::string> dataflow{
      *this, "dataflow",
      llvm::cl::desc("Systolic-array dataflow of the tile ops: ws or os"),
      llvm::cl::init("ws")};
  buddy::GemminiPipelineOptions toStruct() const {
    buddy::GemminiPipelineOptions o;
    copyEntryTo(o);
    o.dataflow = dataflow;
    return o;
  }
};


struct TargetDefaults {
  int64_t vw, mr, nr;
};

std::optional<TargetDefaults> defaultsFor(llvm::StringRef target) {
  if (target == "avx512")
    return TargetDefaults{16, 8, 32};
  if (target == "avx2")
    return TargetDefaults{8, 6, 16};
  if (target == "neon" || target == "generic")
    return TargetDefaults{4, 6, 16};
  return std::nullopt;
}

/// Prints `bad`, a verify message, on llvm::errs(); whether there was one.
bool rejected(const std::string &bad) {
  if (bad.empty())
    return false;
  llvm::errs() << bad << "\n";
  return true;
}

/// Why a rename-from/rename-to pair of `pipeline` is bad, or "".
std::string verifyRename(llvm::StringRef pipeline, const std::string &from,
                         const std::string &to) {
  if (from.empty() == to.empty())
    return "";
  return pipeline.str() + ": rename-from and rename-to go together (got rename-from='" +
         from + "' rename-to='" + to + "')";
}

void addRenameEntry(OpPassManager &pm, const std::string &from,
                    const std::string &to) {
  if (from.empty())
    return;
  buddy::RenameEntryOptions r;
  r.from = from;
  r.to = to;
  pm.addPass(buddy::createRenameEntry(r));
}

/// math -> LLVM intrinsics, and the ops without one -> libm calls (vector ops
/// unrolled with vector.extract / vector.insert, so this goes before
/// convert-vector-to-llvm).
void addMathToLLVM(OpPassManager &pm) {
  pm.addPass(createConvertMathToLLVMPass());
  pm.addPass(createConvertMathToLibmPass());
}

/// The scalar dialects (arith, index, ub, memref, cf, func) -> LLVM, OpenMP
/// too when `openmp`, then the packed entry points (math first:
/// addMathToLLVM).
void addScalarToLLVM(OpPassManager &pm, bool openmp, bool packedInterface) {
  pm.addPass(createArithToLLVMConversionPass());
  pm.addPass(createConvertIndexToLLVMPass());
  pm.addPass(createUBToLLVMConversionPass());
  pm.addPass(createFinalizeMemRefToLLVMConversionPass());
  pm.addPass(createConvertControlFlowToLLVMPass());
  if (openmp)
    pm.addPass(createConvertOpenMPToLLVMPass());
  pm.addPass(createConvertFuncToLLVMPass());
  pm.addPass(createConvertControlFlowToLLVMPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
  if (packedInterface)
    pm.addPass(buddy::createEmitPackedInterface());
}

/// Registers `name` with buddy-opt: its option string parsed by `CL`,
/// checked by `verify`, built by `build`.
template <typename CL, typename Options>
void registerPipeline(llvm::StringRef name, llvm::StringRef description,
                      std::string (*verify)(const Options &),
                      LogicalResult (*build)(OpPassManager &, const Options &)) {
  std::string prefix = name.str();
  registerPassPipeline(
      name, description,
      [prefix, verify, build](
          OpPassManager &pm, llvm::StringRef text,
          llvm::function_ref<LogicalResult(const llvm::Twine &)> error) {
        std::unique_ptr<CL> cl = CL::createFromString(text);
        if (!cl)
          return error(llvm::Twine(prefix) + ": bad options '" + text + "'");
        Options o = cl->toStruct();
        std::string bad = verify(o);
        if (!bad.empty())
          return error(bad);
        return build(pm, o);
      },
      [](llvm::function_ref<void(const detail::PassOptions &)> optHandler) {
        optHandler(CL());
      });
}

} // namespace

std::string buddy::verifyCpuPipelineOptions(const CpuPipelineOptions &o) {
  if (!defaultsFor(o.target))
    return "buddy-cpu-pipeline: unknown target '" + o.target +
           "' (expected avx512, avx2, neon or generic)";
  if (std::string bad = verifyRename("buddy-cpu-pipeline", o.renameFrom, o.renameTo);
      !bad.empty())
    return bad;
  if (o.int8Dot != "none" && !(o.int8Dot == "avx512-vnni" && o.target == "avx512"))
    return "buddy-cpu-pipeline: int8-dot='" + o.int8Dot +
           "' is not a kernel of target '" + o.target +
           "' (expected none, or avx512-vnni with target=avx512)";
  return "";
}

LogicalResult buddy::buildCpuPipeline(OpPassManager &pm,
                                      const CpuPipelineOptions &o) {
  if (rejected(verifyCpuPipelineOptions(o)))
    return failure();
  TargetDefaults d = *defaultsFor(o.target);
  int64_t mr = o.mr > 0 ? o.mr : d.mr;
  int64_t nr = o.nr > 0 ? o.nr : d.nr;

  addRenameEntry(pm, o.renameFrom, o.renameTo);
  if (o.fromTosa) {
    OpPassManager &f = pm.nest<func::FuncOp>();
    f.addPass(tosa::createTosaToLinalgNamed());
    f.addPass(tosa::createTosaToLinalg());
    f.addPass(createTosaToArithPass());
    f.addPass(createTosaToTensorPass());
    // Fuse TOSA's elementwise chains so their boolean (i1) intermediates stay scalars: MLIR 22
    // cannot lower i1 buffers (finalize-memref-to-llvm asserts).
    f.addPass(createLinalgElementwiseOpFusionPass());
    pm.addPass(createCanonicalizerPass());
  }
  // Tensors -> buffers; results become caller-allocated trailing out-params.
  {
    OpPassManager &f = pm.nest<func::FuncOp>();
    if (o.kernels)
      f.addPass(buddy::createFoldTransposeIntoMatmul());
    f.addPass(createCanonicalizerPass());
  }
  if (o.kernels && o.fuseElementwise)
    pm.addNestedPass<func::FuncOp>(buddy::createFuseElementwise());
  {
    bufferization::OneShotBufferizePassOptions b;
    b.bufferizeFunctionBoundaries = true;
    b.functionBoundaryTypeConversion =
        bufferization::LayoutMapOption::IdentityLayoutMap;
    pm.addPass(bufferization::createOneShotBufferizePass(b));
  }
  {
    bufferization::BufferResultsToOutParamsPassOptions b;
    b.hoistStaticAllocs = true;
    b.modifyPublicFunctions = true;
    pm.addPass(bufferization::createBufferResultsToOutParamsPass(b));
  }
  // At module level: deallocations of several buffers at once (e.g. yielded by scf.if) lower
  // to a helper function that lower-deallocations must insert into the module.
  if (o.deallocation)
    bufferization::buildBufferDeallocationPipeline(pm);
  pm.addPass(createConvertBufferizationToMemRefPass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  // memref.copy would lower to a call into MLIR's C runner library (memrefCopy).
  pm.addNestedPass<func::FuncOp>(buddy::createMemRefCopyToLinalg());
  // Row kernels: softmax (nothing else lowers linalg.softmax) and RMSNorm;
  // on with or without `kernels`.
  {
    OpPassManager &f = pm.nest<func::FuncOp>();
    buddy::SoftmaxVectorizeOptions s;
    s.vectorWidth = d.vw;
    s.parallel = o.parallelLoops;
    f.addPass(buddy::createSoftmaxVectorize(s));
    buddy::RmsNormVectorizeOptions r;
    r.vectorWidth = d.vw;
    r.parallel = o.parallelLoops;
    f.addPass(buddy::createRmsNormVectorize(r));
  }
  // Convolutions and pooling (1x1 convolutions become matmuls for the GEMM
  // kernels below).
  if (o.kernels && o.convVectorize) {
    OpPassManager &f = pm.nest<func::FuncOp>();
    buddy::Conv2dVectorizeOptions c;
    c.vectorWidth = d.vw;
    c.ocBlock = o.convOcBlock > 0 ? o.convOcBlock : (d.vw == 16 ? 8 : 4);
    c.owVectors = o.convOwVectors > 0 ? o.convOwVectors : 2;
    c.threads = o.threads;
    c.ohBlock = o.convOhBlock;
    c.cBlock = o.convCBlock;
    c.gemm1x1 = o.convGemm1x1;
    f.addPass(buddy::createConv2dVectorize(c));
    buddy::PoolingVectorizeOptions p;
    p.vectorWidth = d.vw;
    f.addPass(buddy::createPoolingVectorize(p));
  }
  // Buddy kernels, then everything else as (parallel) loops.
  if (o.kernels) {
    // Quantized linear layers first: their prefill form leaves a linalg.matmul
    // for the GEMM kernel below.
    buddy::QuantMatmulVectorizeOptions q;
    q.vectorWidth = d.vw;
    q.maxRows = o.gemvMaxRows;
    q.chunk = o.gemvChunk;
    q.int8Dot = o.int8Dot;
    pm.addNestedPass<func::FuncOp>(buddy::createQuantMatmulVectorize(q));
    buddy::GemvVectorizeOptions g;
    g.vectorWidth = d.vw;
    g.maxRows = o.gemvMaxRows;
    g.threads = o.threads;
    g.rows = o.gemvRows;
    g.chunk = o.gemvChunk;
    pm.addNestedPass<func::FuncOp>(buddy::createGemvVectorize(g));
    buddy::MatmulVectorizeOptions m;
    m.vectorWidth = d.vw;
    m.mr = mr;
    m.nr = nr;
    m.kc = o.kc;
    m.nc = o.nc;
    m.threads = o.threads;
    m.packA = o.packA;
    m.mc = llvm::divideCeil(o.mc, mr) * mr;
    m.fuseEpilogue = o.fuseEpilogue;
    pm.addNestedPass<func::FuncOp>(buddy::createMatmulVectorize(m));
    // Fills and copies the kernels left (padding, accumulators, results).
    if (o.fillCopyVectorize) {
      buddy::FillCopyVectorizeOptions fc;
      fc.vectorWidth = d.vw;
      fc.parallel = o.parallelLoops;
      pm.addNestedPass<func::FuncOp>(buddy::createFillCopyVectorize(fc));
    }
    // The elementwise generics and inner-dim reductions left (activations,
    // residuals, LayerNorm statistics) as vector rows.
    if (o.elementwiseVectorize) {
      buddy::ElementwiseVectorizeOptions ev;
      ev.vectorWidth = d.vw;
      ev.parallel = o.parallelLoops;
      pm.addNestedPass<func::FuncOp>(buddy::createElementwiseVectorize(ev));
    }
    // exp/tanh/erf (now mostly on vectors): inline polynomials instead of one
    // libm call per element.
    if (o.mathApproximation)
      pm.addNestedPass<func::FuncOp>(buddy::createMathApproximation());
  }
  pm.addNestedPass<func::FuncOp>(o.parallelLoops
                                     ? createConvertLinalgToParallelLoopsPass()
                                     : createConvertLinalgToLoopsPass());
  // No canonicalize from here on: it would fold the packing's in-register
  // vector.transpose into scalar element moves.
  // C interfaces for the model's own functions only, then one private
  // function per distinct loop nest: the later stages (scf-to-cf, OpenMP,
  // LLVM opt/llc) are superlinear in the size of one function.
  if (o.packedInterface)
    pm.addNestedPass<func::FuncOp>(LLVM::createLLVMRequestCWrappersPass());
  if (o.outline)
    pm.addPass(buddy::createOutlineLoopNests());
  pm.addPass(createConvertSCFToOpenMPPass());
  // memref.alloca_scope (from scf-to-openmp) must be lowered before its
  // body turns into several blocks: finalize-memref-to-llvm before scf-to-cf.
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  pm.addPass(createFinalizeMemRefToLLVMConversionPass());
  pm.addPass(createSCFToControlFlowPass());
  // Math on vectors (buddy-elementwise-vectorize) before the vector dialect goes.
  addMathToLLVM(pm);
  {
    ConvertVectorToLLVMPassOptions v;
    v.vectorTransposeLowering = d.vw == 16
                                    ? vector::VectorTransposeLowering::Shuffle16x16
                                    : vector::VectorTransposeLowering::Shuffle1D;
    pm.addPass(createConvertVectorToLLVMPass(v));
  }
  addScalarToLLVM(pm, /*openmp=*/true, o.packedInterface);
  return success();
}

std::string buddy::verifyGemminiPipelineOptions(const GemminiPipelineOptions &o) {
  if (o.dataflow != "ws" && o.dataflow != "os")
    return "buddy-gemmini-pipeline: unknown dataflow '" + o.dataflow +
           "' (expected ws or os)";
  return verifyRename("buddy-gemmini-pipeline", o.renameFrom, o.renameTo);
}

LogicalResult buddy::buildGemminiPipeline(OpPassManager &pm,
                                          const GemminiPipelineOptions &o) {
  if (rejected(verifyGemminiPipelineOptions(o)))
    return failure();
  addRenameEntry(pm, o.renameFrom, o.renameTo);
  {
    // The int8 matmuls (+ requantization) -> tile ops -> instruction loops;
    // whatever the matcher leaves (f32 matmuls, other linalg ops) runs on the
    // core as plain loops.
    OpPassManager &f = pm.nest<func::FuncOp>();
    buddy::ConvertLinalgToGemminiOptions c;
    c.dataflow = o.dataflow;
    f.addPass(buddy::createConvertLinalgToGemmini(c));
    f.addPass(buddy::createLowerGemmini());
    f.addPass(buddy::createMemRefCopyToLinalg());
    f.addPass(createConvertLinalgToLoopsPass());
    if (o.packedInterface)
      f.addPass(LLVM::createLLVMRequestCWrappersPass());
  }
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  pm.addPass(createSCFToControlFlowPass());
  pm.addNestedPass<func::FuncOp>(buddy::createConvertGemminiToLLVM());
  addMathToLLVM(pm);
  addScalarToLLVM(pm, /*openmp=*/false, o.packedInterface);
  return success();
}

void buddy::registerBuddyPipelines() {
  registerPipeline<CpuPipelineCLOptions, CpuPipelineOptions>(
      "buddy-cpu-pipeline",
      "Linalg on tensors -> LLVM dialect for CPUs: bufferize (results as "
      "out-params), Buddy GEMV/GEMM kernels, loops, OpenMP, LLVM",
      verifyCpuPipelineOptions, buildCpuPipeline);
  registerPipeline<GemminiPipelineCLOptions, GemminiPipelineOptions>(
      "buddy-gemmini-pipeline",
      "Linalg on memrefs -> LLVM dialect for RISC-V + Gemmini: int8 matmuls "
      "(+ requantization) as RoCC instructions, the rest as loops on the core",
      verifyGemminiPipelineOptions, buildGemminiPipeline);
}
