//===- Pipelines.cpp - Buddy named pass pipelines --------------------------===//
//
// `--buddy-cpu-pipeline`: linalg on tensors -> LLVM dialect for a CPU target.
// This is the one place the lowering is written down; Python (backend/) and
// CMake call it by name. Options are documented in midend/README.md.
//
//===----------------------------------------------------------------------===//

#include "buddy/Pipelines.h"

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/Support/ErrorHandling.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/raw_ostream.h"

#include <optional>
#include <string>

using namespace mlir;

namespace {

struct CpuPipelineOptions : PassPipelineOptions<CpuPipelineOptions> {
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
  Option<bool> packedInterface{
      *this, "packed-interface",
      llvm::cl::desc("Emit C wrappers and the `_buddy_<f>(void**)` entry "
                     "points (buddy-emit-packed-interface)"),
      llvm::cl::init(true)};
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

LogicalResult
buildCpuPipeline(OpPassManager &pm, const CpuPipelineOptions &o,
                 llvm::function_ref<LogicalResult(const llvm::Twine &)> error) {
  std::optional<TargetDefaults> td = defaultsFor(o.target);
  if (!td)
    return error(llvm::Twine("buddy-cpu-pipeline: unknown target '") +
                 o.target + "' (expected avx512, avx2, neon or generic)");
  TargetDefaults d = *td;
  int64_t mr = o.mr > 0 ? int64_t(o.mr) : d.mr;
  int64_t nr = o.nr > 0 ? int64_t(o.nr) : d.nr;
  std::string text;
  auto add = [&](const llvm::Twine &t) {
    if (!text.empty())
      text += ",";
    text += t.str();
  };
  if (o.fromTosa)
    add("func.func(tosa-to-linalg-named, tosa-to-linalg, tosa-to-arith, "
        "tosa-to-tensor), canonicalize");
  // Tensors -> buffers; results become caller-allocated trailing out-params.
  add("func.func(buddy-fold-transpose-into-matmul, canonicalize)");
  if (o.fuseElementwise)
    add("func.func(buddy-fuse-elementwise)");
  add("one-shot-bufferize{bufferize-function-boundaries=1 "
      "function-boundary-type-conversion=identity-layout-map}");
  add("buffer-results-to-out-params{hoist-static-allocs=1 "
      "modify-public-functions=1}");
  add("func.func(buffer-deallocation-pipeline), convert-bufferization-to-memref,"
      " canonicalize, cse");
  // memref.copy would lower to a call into MLIR's C runner library (memrefCopy).
  add("func.func(buddy-memref-copy-to-linalg)");
  // Row kernels: softmax (nothing else lowers linalg.softmax) and RMSNorm.
  add(llvm::formatv("func.func(buddy-softmax-vectorize{{vector-width={0} "
                    "parallel={1}}, buddy-rmsnorm-vectorize{{vector-width={0} "
                    "parallel={1}})",
                    d.vw, o.parallelLoops ? 1 : 0)
          .str());
  // Convolutions and pooling (1x1 convolutions become matmuls for the GEMM
  // kernels below).
  if (o.convVectorize)
    add(llvm::formatv("func.func(buddy-conv2d-vectorize{{vector-width={0} "
                      "oc-block={1} ow-vectors={2} threads={3} oh-block={4} "
                      "c-block={5} gemm-1x1={6}}, "
                      "buddy-pooling-vectorize{{vector-width={0}})",
                      d.vw, o.convOcBlock > 0 ? int64_t(o.convOcBlock) : (d.vw == 16 ? 8 : 4),
                      o.convOwVectors > 0 ? int64_t(o.convOwVectors) : 2,
                      int64_t(o.threads), int64_t(o.convOhBlock),
                      int64_t(o.convCBlock), o.convGemm1x1 ? 1 : 0)
            .str());
  // Buddy kernels, then everything else as (parallel) loops.
  add(llvm::formatv("func.func(buddy-gemv-vectorize{{vector-width={0} "
                    "max-rows={1} threads={2} rows={3} chunk={4}})",
                    d.vw, int64_t(o.gemvMaxRows), int64_t(o.threads),
                    int64_t(o.gemvRows), int64_t(o.gemvChunk))
          .str());
  add(llvm::formatv("func.func(buddy-matmul-vectorize{{vector-width={0} mr={1} "
                    "nr={2} kc={3} nc={4} threads={5} pack-a={6} mc={7} "
                    "fuse-epilogue={8}})",
                    d.vw, mr, nr, int64_t(o.kc), int64_t(o.nc),
                    int64_t(o.threads), o.packA ? 1 : 0,
                    llvm::divideCeil(int64_t(o.mc), mr) * mr,
                    o.fuseEpilogue ? 1 : 0)
          .str());
  add(o.parallelLoops ? "func.func(convert-linalg-to-parallel-loops)"
                      : "func.func(convert-linalg-to-loops)");
  // No canonicalize from here on: it would fold the packing's in-register
  // vector.transpose into scalar element moves.
  // C interfaces for the model's own functions only, then one private
  // function per distinct loop nest: the later stages (scf-to-cf, OpenMP,
  // LLVM opt/llc) are superlinear in the size of one function.
  if (o.packedInterface)
    add("func.func(llvm-request-c-wrappers)");
  if (o.outline)
    add("buddy-outline-loop-nests");
  add("convert-scf-to-openmp");
  // memref.alloca_scope (from scf-to-openmp) must be lowered before its
  // body turns into several blocks: finalize-memref-to-llvm before scf-to-cf.
  add("expand-strided-metadata, lower-affine, finalize-memref-to-llvm, "
      "convert-scf-to-cf");
  add(llvm::formatv("convert-vector-to-llvm{{vector-transpose-lowering={0}}",
                    d.vw == 16 ? "shuffle16x16" : "shuffle1d")
          .str());
  add("convert-math-to-llvm, convert-math-to-libm, convert-arith-to-llvm, "
      "convert-index-to-llvm, convert-ub-to-llvm, finalize-memref-to-llvm, "
      "convert-cf-to-llvm, "
      "convert-openmp-to-llvm, convert-func-to-llvm, convert-cf-to-llvm, "
      "reconcile-unrealized-casts");
  if (o.packedInterface)
    add("buddy-emit-packed-interface");
  std::string err;
  llvm::raw_string_ostream es(err);
  if (failed(parsePassPipeline(text, pm, es)))
    return error(llvm::Twine("buddy-cpu-pipeline: cannot build '") + text +
                 "': " + err);
  return success();
}

} // namespace

void buddy::registerBuddyPipelines() {
  registerPassPipeline(
      "buddy-cpu-pipeline",
      "Linalg on tensors -> LLVM dialect for CPUs: bufferize (results as "
      "out-params), Buddy GEMV/GEMM kernels, loops, OpenMP, LLVM",
      [](OpPassManager &pm, llvm::StringRef text,
         llvm::function_ref<LogicalResult(const llvm::Twine &)> error) {
        std::unique_ptr<CpuPipelineOptions> o =
            CpuPipelineOptions::createFromString(text);
        if (!o)
          return error(llvm::Twine("buddy-cpu-pipeline: bad options '") +
                       text + "'");
        return buildCpuPipeline(pm, *o, error);
      },
      [](llvm::function_ref<void(const detail::PassOptions &)> optHandler) {
        optHandler(CpuPipelineOptions());
      });
}
