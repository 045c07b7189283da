//===- Passes.td - Buddy midend pass declarations ----------*- tablegen -*-===//
//
// Every Buddy pass is declared here and implemented in its own file under
// midend/lib/. `buddy-opt --help` lists them next to the upstream passes.
//
//===----------------------------------------------------------------------===//

#ifndef BUDDY_PASSES_TD
#define BUDDY_PASSES_TD

include "mlir/Pass/PassBase.td"

def FoldTransposeIntoMatmul
    : Pass<"buddy-fold-transpose-into-matmul", "mlir::func::FuncOp"> {
  let summary = "Fold linalg.transpose producers into the indexing maps of "
                "linalg.matmul / linalg.batch_matmul";
  let description = [{
    PyTorch's `x @ W.T` (every `nn.Linear`) reaches Linalg as a
    `linalg.transpose` of the weight followed by a `linalg.matmul`. The
    transpose materializes a full copy of the weight. This pass rewrites the
    matmul to read the transpose's input directly, by permuting the operand's
    indexing map, e.g.

      %t = linalg.transpose ins(%w : tensor<NxK>) outs(...) permutation = [1, 0]
      %r = linalg.matmul ins(%x, %t : ...) outs(...)
    =>
      %r = linalg.matmul indexing_maps = [(m,n,k)->(m,k), (m,n,k)->(n,k), (m,n,k)->(m,n)]
             ins(%x, %w : ...) outs(...)

    Both inputs are handled, for `linalg.matmul` and `linalg.batch_matmul`.
    The transpose is left for dead-code elimination (it is erased here when it
    has no other use).
  }];
  let dependentDialects = ["mlir::linalg::LinalgDialect"];
}

def ElementwiseVectorize
    : Pass<"buddy-elementwise-vectorize", "mlir::func::FuncOp"> {
  let summary = "Vector rows for elementwise and reduction linalg.generic "
                "ops on memrefs";
  let description = [{
    The `linalg.generic` ops that no Buddy kernel consumes (activations,
    residual adds, casts, masks, the statistics and normalization of
    LayerNorm, GroupNorm, BatchNorm, means and sums) would lower to scalar
    loop nests, which LLVM does not vectorize once they are outlined for
    OpenMP. On statically shaped memrefs with static strides, this pass
    writes each qualifying generic as vector rows along its innermost loop
    dimension. Every operand either reads the inner dim as its last,
    unit-stride dimension (`vector.load`, `vector.store`) or does not read
    it at all (one `memref.load` + `vector.broadcast` per row). Outputs read
    no reduction dim and every outer parallel dim of range > 1 (so no two
    rows of an `scf.parallel` write the same element). Loops: an
    `scf.parallel` over the outer parallel dims (an `scf.for` nest when
    `parallel=false`, below `min-parallel` elements or with a single task),
    inside it an `scf.for` nest over the outer reduction dims, in order,
    then the row:

    * inner dim parallel: when all loops are parallel and every map is the
      identity, the trailing dims contiguous in all operands collapse into
      one row first (a single long row is split into `scf.parallel` chunks
      of 4096 elements). Each row goes 2 vectors per step, then a full
      vector, then a masked tail (`vector.maskedload` /
      `vector.maskedstore`); an output whose block argument the body reads
      is loaded as a vector too, so with outer reductions (column sums,
      `x.mean(dim=1)`, batch statistics over N with a parallel inner dim)
      each reduction step loads the output row, combines and stores it.
    * inner dim a reduction: each output omits the inner dim and yields
      `combiner(out, x)` with `combiner` one of arith's reductions (addf,
      mulf, max/min, integer add/mul/and/or/xor) and `out` used nowhere
      else. Each row accumulates `x` in a vector initialized to the
      combiner's neutral element (the masked tail's dead lanes are replaced
      by it), then `vector.reduction` and one combine with the output's old
      value. When the trailing reduction dims (2 or more) are read by every
      operand that reads them as its last results, in order and contiguous
      in its buffer, and the body asks for none of their indices, they
      first collapse into one long reduction (`memref.collapse_shape` of
      those operands; a reduce over H, W of NCHW), the remaining outer
      reductions staying `scf.for` loops.

    The body is cloned op by op with vector types; it may hold only
    elementwise-mappable `arith` and `math` ops, `arith.constant` and
    `linalg.index`. Other generics (other ops in the body, dynamic shapes,
    strided or transposed access along the inner dim, outputs that read a
    reduction dim or miss a parallel one, i1 buffers) are left to the loop
    lowering. Float reductions are reassociated (vector lanes, then a tree),
    as in any vectorized sum.
  }];
  let dependentDialects = ["mlir::arith::ArithDialect",
                           "mlir::memref::MemRefDialect",
                           "mlir::scf::SCFDialect",
                           "mlir::vector::VectorDialect"];
  let options = [
    Option<"vectorWidth", "vector-width", "int64_t", "16",
           "Lanes per vector (the target's f32 lanes)">,
    Option<"parallel", "parallel", "bool", "true",
           "Rows in an scf.parallel (OpenMP) rather than an scf.for nest">,
    Option<"minParallel", "min-parallel", "int64_t", "16384",
           "Elements below which the loops stay sequential">,
  ];
}

def EmitPackedInterface
    : Pass<"buddy-emit-packed-interface", "mlir::ModuleOp"> {
  let summary = "Emit `void _buddy_<f>(void **args)` wrappers around the C "
                "interfaces of lowered functions";
  let description = [{
    Runs on a module already lowered to the LLVM dialect. For every
    `llvm.func @_mlir_ciface_<f>` whose function `@<f>` is in the module and
    not private (request those with `llvm.emit_c_interface` or
    `--llvm-request-c-wrappers` before `--convert-func-to-llvm`), emits

      llvm.func @_buddy_<f>(%args: !llvm.ptr)

    which loads the i-th pointer of `args` and passes it to the C interface:
    memref arguments as the pointer to their descriptor
    (`StridedMemRefType<T, N>`), scalar arguments loaded through it. A
    non-void C-interface result is stored through `args[<number of params>]`.
    This is the compiled-model ABI of docs/interfaces.md: one symbol per
    model, callable with a single `void **`.
  }];
  let dependentDialects = ["mlir::LLVM::LLVMDialect"];
}

def MathApproximation
    : Pass<"buddy-math-approximation", "mlir::func::FuncOp"> {
  let summary = "Inline polynomial approximations of f32 math.exp, "
                "math.tanh and math.erf (no libm calls)";
  let description = [{
    Replaces every f32 (scalar or vector) `math.exp`, `math.tanh` and
    `math.erf` with MLIR's polynomial approximation
    (`populateMathPolynomialApproximationPatterns`, restricted to these three
    by name; buddy::approximateMath): `arith` ops, `math.fma` and bit casts.
    The CPU pipeline runs it after Buddy's kernels and
    `buddy-elementwise-vectorize`, so GELU, sigmoid, SiLU and tanh run as
    vector polynomials (and any scalar loop left carries no calls to `expf` /
    `tanhf` / `erff`). Other math ops and other element types are left
    unchanged.
  }];
  let dependentDialects = ["mlir::arith::ArithDialect",
                           "mlir::math::MathDialect",
                           "mlir::vector::VectorDialect"];
}

def RenameEntry : Pass<"buddy-rename-entry", "mlir::ModuleOp"> {
  let summary = "Rename a model's entry function (e.g. @forward -> @llama_decode)";
  let description = [{
    Every imported graph's entry point is `func.func @forward`, so every
    compiled graph would export `forward`, `_mlir_ciface_forward` and
    `_buddy_forward`, and two graphs could not be linked into one executable.
    Run first (on tensors or memrefs, before `--convert-func-to-llvm`), this
    pass renames the public symbol `@<from>` to `@<to>` and updates all its
    uses; the later stages then emit `_mlir_ciface_<to>` and `_buddy_<to>`.
    `to` must be a C identifier. Errors: `@<from>` missing or private,
    `@<to>` already defined. `buddy.compile(name=...)` / `buddy compile
    --name` run it (docs/interfaces.md).
  }];
  let options = [
    Option<"from", "from", "std::string", "\"forward\"", "Entry function to rename">,
    Option<"to", "to", "std::string", "\"forward\"", "Its new name (a C identifier)">,
  ];
}

def MatmulVectorize
    : Pass<"buddy-matmul-vectorize", "mlir::func::FuncOp"> {
  let summary = "Blocked, B-packed, register-tiled f32 GEMM for "
                "linalg.matmul / linalg.batch_matmul on memrefs";
  let description = [{
    Replaces f32 `linalg.matmul` and `linalg.batch_matmul` on memrefs (with the
    standard maps, or B read as (n, k) as produced by
    `--buddy-fold-transpose-into-matmul`) by a BLIS-style loop nest:
    an `scf.parallel` over (batch, N panels; plus M parts when there are
    fewer tasks than `threads`), a K cache block of `kc`, packing of the B
    panel into a zero-padded `[nc/nr][kc][nr]` buffer (B as (n, k): in-register
    `vector.transpose` of vector-width square tiles), and an
    `mr` x `nr` register-blocked micro-kernel of `vector.broadcast` +
    `vector.fma` on `vector<vector-width x f32>` accumulators. M tails use a
    one-row kernel, N tails masked loads/stores of C, K tails the loop bound.
    A `linalg.fill` of C right before the matmul is folded: the first K block
    starts from the fill value instead of reading C back.
    Lower the `scf.parallel` with `--convert-scf-to-openmp` for threads.
  }];
  let dependentDialects = ["mlir::arith::ArithDialect",
                           "mlir::math::MathDialect",
                           "mlir::memref::MemRefDialect",
                           "mlir::scf::SCFDialect",
                           "mlir::vector::VectorDialect"];
  let options = [
    Option<"vectorWidth", "vector-width", "int64_t", "16",
           "f32 lanes per vector (16 = AVX-512, 8 = AVX2/NEON x2, 4 = SSE/NEON)">,
    Option<"mr", "mr", "int64_t", "8", "Rows of the register tile">,
    Option<"nr", "nr", "int64_t", "32",
           "Columns of the register tile (a multiple of vector-width)">,
    Option<"kc", "kc", "int64_t", "256", "K cache block">,
    Option<"nc", "nc", "int64_t", "256", "Maximum N panel per parallel task">,
    Option<"threads", "threads", "int64_t", "2",
           "Thread count the N panels are balanced for">,
    Option<"minRows", "min-rows", "int64_t", "1",
           "Leave matmuls with static M below this to other passes">,
    Option<"mc", "mc", "int64_t", "128",
           "M block packed together (a multiple of mr)">,
    Option<"packA", "pack-a", "bool", "false",
           "Pack mc x kc blocks of A into a contiguous buffer and sweep the "
           "B micro-panels over them (BLIS loop order)">,
    Option<"fuseEpilogue", "fuse-epilogue", "bool", "true",
           "Apply an elementwise linalg.generic that is C's only reader "
           "(bias, activation, residual) to the registers of the last K "
           "block">,
  ];
}

def GemvVectorize
    : Pass<"buddy-gemv-vectorize", "mlir::func::FuncOp"> {
  let summary = "Bandwidth-oriented f32 GEMV for linalg.matmul with a small "
                "static M (decode)";
  let description = [{
    Replaces an f32 `linalg.matmul` (or `linalg.batch_matmul`: decode
    attention, one batch per KV head; the kernel below then runs per (batch,
    N chunk) task on the batch's rank-reduced `memref.subview`s) on memrefs
    whose static M is at most `max-rows` by a kernel that streams the weight
    exactly once:
    * B read as (n, k) (nn.Linear after --buddy-fold-transpose-into-matmul):
      `rows` weight rows at a time, vectorized along the contiguous K with
      `vector.fma` into per-(m, row) accumulators, masked K tail, then
      `vector.reduction <add>` into C;
    * B read as (k, n): weight rows streamed contiguously, `cols` rows at a
      time: C[m, n:n+vw] += sum of `vector.broadcast`(A[m, k+u]) * B[k+u, n:n+vw]
      (C stays in cache), masked N tail; N split in one range per thread.
    N is split across threads by an `scf.parallel` (chunks of `chunk` rows of
    B for the (n, k) layout), lowered with --convert-scf-to-openmp.
    A and B may be bf16 when C is f32 (the frontend's bf16 matmuls): their
    vectors are loaded as bf16 and `arith.extf`-ed to f32; accumulation and C
    stay f32 (the bf16 result is one truncf after the matmul).
  }];
  let dependentDialects = ["mlir::arith::ArithDialect",
                           "mlir::memref::MemRefDialect",
                           "mlir::scf::SCFDialect",
                           "mlir::vector::VectorDialect"];
  let options = [
    Option<"vectorWidth", "vector-width", "int64_t", "16", "f32 lanes per vector">,
    Option<"maxRows", "max-rows", "int64_t", "4", "Largest static M handled">,
    Option<"rows", "rows", "int64_t", "8",
           "Weight rows per step for the (n, k) layout (divided by M)">,
    Option<"cols", "cols", "int64_t", "4",
           "Weight rows per step for the (k, n) layout">,
    Option<"chunk", "chunk", "int64_t", "64",
           "Output columns per parallel task for the (n, k) layout">,
    Option<"threads", "threads", "int64_t", "2",
           "Threads the (k, n) layout's N ranges are split for">,
  ];
}

def QuantMatmulVectorize
    : Pass<"buddy-quant-matmul-vectorize", "mlir::func::FuncOp"> {
  let summary = "Vector kernels for the frontend's block-quantized linear "
                "layers (GGUF Q8_0 / Q4_0 / Q4_1 planes)";
  let description = [{
    Recognises, by structure (buddy/QuantMatmul.h), the `linalg.generic` on
    memrefs computing y[m, n] += x[m, k] * (d[n, k floordiv B] * sitofp(v[n, k])
    (+ mn[n, k floordiv B])) with x, d, mn, y f32, v either q[n, k] (i8) or
    the nibble of k in the packed byte q[n, (k floordiv B) * B/2 + k mod B/2]
    (minus 8 or not), loops (parallel, parallel, reduction), static shapes,
    K a multiple of B and B (packed: B/2) a multiple of `vector-width`, and
    rewrites it (buddy::vectorizeQuantMatmuls):
    * M <= `max-rows` (decode): each weight byte is read once. N in chunks of
      at most `chunk` rows (fewer when N makes fewer than 24 tasks) over an
      `scf.parallel` (OpenMP); with `group-siblings`, consecutive decode
      matches of one block that read the same x (q/k/v, gate/up) share one
      `scf.parallel` (a common chunk; an `scf.if` chain picks the matrix; their
      output allocs and zero fills move above it) when every op between them
      commutes with the move; `rows`/M weight rows at a time, each block of
      each row `memref.prefetch`-ed `prefetch` steps ahead; per scale block the i8 vectors are loaded (packed: the block's
      B/2 bytes once, split with `arith.andi` / `arith.shrui` into its two
      halves), `arith.sitofp`-ed and
      multiplied with the x block into a vector of partial dots, which is
      scaled once (`vector.fma` with the broadcast scale; with mins, plus the
      x block sum times the min); `vector.reduction <add>` into y.
    * With `int8-dot=avx512-vnni` (B = 32, vector-width 16, K a multiple of
      64), decode quantizes x once per GEMV (or sibling group) to i8 per
      block (dx = max|x| / 127, `math.roundeven`) into stack buffers, with the
      block sums; each pair of blocks of a weight row is one
      `llvm.x86.avx512.vpdpbusd.512` of the unsigned weight bytes (i8: xor
      0x80; packed: nibbles shuffled to x's order) by xq, started at -c * sum
      to undo the unsigned offset, then `vector.fma` with d * dx (mins: plus
      mn * dx * sum). docs/quantization.md derives its error bound.
    * M > `max-rows` (prefill): the weight is dequantized once into an
      aligned f32 [N, K] temporary (vectorized, rows in parallel) and read by
      a B-transposed `linalg.matmul` for --buddy-matmul-vectorize.
    Other IR, including near-misses of the form, is left unchanged.
  }];
  let dependentDialects = ["mlir::arith::ArithDialect",
                           "mlir::linalg::LinalgDialect",
                           "mlir::LLVM::LLVMDialect",
                           "mlir::math::MathDialect",
                           "mlir::memref::MemRefDialect",
                           "mlir::scf::SCFDialect",
                           "mlir::vector::VectorDialect"];
  let options = [
    Option<"vectorWidth", "vector-width", "int64_t", "16", "f32 lanes per vector">,
    Option<"maxRows", "max-rows", "int64_t", "4",
           "Largest static M given the streaming (GEMV) kernel">,
    Option<"rows", "rows", "int64_t", "4",
           "Weight rows per step of the GEMV kernel (divided by M)">,
    Option<"chunk", "chunk", "int64_t", "64",
           "Most weight rows per parallel task (fewer when N splits into fewer "
           "than 24 tasks)">,
    Option<"prefetch", "prefetch", "int64_t", "2",
           "GEMV: memref.prefetch each block of the weight rows this many "
           "steps ahead (0: none)">,
    Option<"groupSiblings", "group-siblings", "bool", "true",
           "Decode GEMVs of one block reading the same x (q/k/v, gate/up) "
           "share one scf.parallel (one fork per group)">,
    Option<"int8Dot", "int8-dot", "std::string", "\"none\"",
           "Decode with int8 activations and integer block dots: none | "
           "avx512-vnni (vpdpbusd; vector-width 16, B 32, K % 64 == 0)">,
  ];
}

def Conv2dVectorize
    : Pass<"buddy-conv2d-vectorize", "mlir::func::FuncOp"> {
  let summary = "Register-blocked direct f32 2-D convolution for "
                "linalg.conv_2d_nchw_fchw / conv_2d_ngchw_gfchw / "
                "conv_2d_nhwc_hwcf on memrefs";
  let description = [{
    Replaces statically shaped f32 `linalg.conv_2d_nchw_fchw`,
    `linalg.conv_2d_ngchw_gfchw` (grouped; depthwise is one input channel per
    group) and `linalg.conv_2d_nhwc_hwcf` on memrefs (any strides and dilations;
    padding is a separate pad/copy made by the frontend) by direct
    convolution kernels with `vector.fma` on `vector<vector-width x f32>`
    accumulators that stay in registers over the whole C x KH x KW reduction:
    * NCHW: vectorized along the output width. An `scf.parallel` over
      (batch, blocks of `oc-block` output channels, blocks of `oh-block`
      output rows); a register tile of `oc-block` channels x rows x
      `ow-vectors` vectors, filter scalars broadcast; the width tail is one
      tile of masked vectors. Input rows read with stride 2 use two loads and
      an even-lane `vector.shuffle`, larger strides `vector.gather`. When the
      output row has fewer than `ow-vectors` vectors, more rows are blocked
      instead (same accumulator count).
    * NGCHW/GFCHW (grouped, as the frontend emits groups > 1): the NCHW
      kernel with the group as one more `scf.parallel` dimension after the
      batch, each tile reducing over its group's input channels only. When a
      group has fewer output channels than `oc-block` (depthwise: usually 1),
      the tile blocks `oc-block / channels` times more rows instead.
    * Zero start: when a `linalg.fill` of +0.0 over the whole output (the
      same buffer up to `memref.expand_shape`/`collapse_shape`) is the last
      op touching memory before the convolution (only views, constants and
      allocations in between), the fill is erased and the accumulators start
      at zero instead of being loaded from the output (NCHW: for the first
      input-channel block, which is peeled; NHWC: always). Not for the 1x1
      form rewritten to `linalg.matmul`.
    * NHWC/HWCF: vectorized along the output channels (contiguous in filter
      and output). An `scf.parallel` over (batch, output row, blocks of
      `nhwc-oc-vectors` vectors of channels); a tile of `nhwc-pixels` output
      pixels x channel vectors, input scalars broadcast, masked channel tail.
    NCHW input channels are reduced in blocks of `c-block` per pass over an
    output row's tiles (the accumulators go through the output between
    blocks), so the input rows and filter taps of a block stay in L1.
    Output-channel and row remainders are separate static tiles under
    `scf.if`. Lower the `scf.parallel` with `--convert-scf-to-openmp`.
    With `gemm-1x1`, NCHW 1x1 stride-1 convolutions (identity layouts) are
    instead rewritten to `linalg.matmul` (W as F x C times the image as
    C x H*W, collapsed memref views) for `--buddy-matmul-vectorize`, which
    must run after this pass.
  }];
  let dependentDialects = ["mlir::arith::ArithDialect",
                           "mlir::linalg::LinalgDialect",
                           "mlir::memref::MemRefDialect",
                           "mlir::scf::SCFDialect",
                           "mlir::vector::VectorDialect"];
  let options = [
    Option<"vectorWidth", "vector-width", "int64_t", "16", "f32 lanes per vector">,
    Option<"ocBlock", "oc-block", "int64_t", "8",
           "NCHW: output channels per register tile">,
    Option<"owVectors", "ow-vectors", "int64_t", "2",
           "NCHW: vectors along the output width per register tile">,
    Option<"ohBlock", "oh-block", "int64_t", "1",
           "NCHW: output rows per register tile">,
    Option<"cBlock", "c-block", "int64_t", "32",
           "NCHW: input channels per pass over a row's tiles (the largest "
           "divisor of C not above this and at least half of it; 0 = none)">,
    Option<"nhwcPixels", "nhwc-pixels", "int64_t", "6",
           "NHWC: output pixels per register tile">,
    Option<"nhwcOcVectors", "nhwc-oc-vectors", "int64_t", "2",
           "NHWC: vectors along the output channels per register tile">,
    Option<"threads", "threads", "int64_t", "2",
           "Threads: NCHW row blocking falls back to one row when there would "
           "be fewer than 2 x threads parallel tasks">,
    Option<"gemm1x1", "gemm-1x1", "bool", "true",
           "NCHW 1x1 stride-1 convolutions become one linalg.matmul per image "
           "(W[F,C] x X[C,H*W] on collapsed views) for the GEMM passes">,
  ];
}

def PoolingVectorize
    : Pass<"buddy-pooling-vectorize", "mlir::func::FuncOp"> {
  let summary = "Vectorized f32 linalg.pooling_nchw_max/sum and "
                "pooling_nhwc_max/sum on memrefs";
  let description = [{
    Replaces statically shaped f32 `linalg.pooling_nchw_max`,
    `pooling_nchw_sum`, `pooling_nhwc_max` and `pooling_nhwc_sum` on memrefs
    (any strides and dilations) by vector loops with the op's combiner
    (`arith.maximumf` / `arith.addf`):
    * NCHW: `scf.parallel` over (batch, channel, output row), `vectors`
      vectors along the output width per step, masked tail. Strided input
      rows: stride 2 by two loads + even-lane `vector.shuffle`, larger
      strides by `vector.gather`.
    * NHWC: `scf.parallel` over (batch, output row, output column), `vectors`
      contiguous vectors along the channels per step, masked tail.
  }];
  let dependentDialects = ["mlir::arith::ArithDialect",
                           "mlir::memref::MemRefDialect",
                           "mlir::scf::SCFDialect",
                           "mlir::vector::VectorDialect"];
  let options = [
    Option<"vectorWidth", "vector-width", "int64_t", "16", "f32 lanes per vector">,
    Option<"vectors", "vectors", "int64_t", "4",
           "Vectors (along W for NCHW, C for NHWC) per step">,
  ];
}

def FillCopyVectorize
    : Pass<"buddy-fill-copy-vectorize", "mlir::func::FuncOp"> {
  let summary = "Lower linalg.fill / linalg.copy on memrefs with a unit "
                "inner stride to vector row loops";
  let description = [{
    Bufferization leaves `linalg.fill` (zeroed accumulators, the padded
    buffer of a convolution or pooling) and `linalg.copy` (the interior of a
    padded buffer, results copied to out-params, `memref.copy` after
    --buddy-memref-copy-to-linalg). `convert-linalg-to-parallel-loops` makes
    them scalar loop nests that llc does not vectorize. On a statically
    shaped memref (static strides, unit inner stride, any offset; element
    types of 8 to 32 bits) each becomes: the trailing dimensions that are
    contiguous in every operand collapsed into one row
    (`memref.collapse_shape`), an `scf.parallel` over the outer dimensions
    (`parallel` and at least `min-parallel` elements; else an `scf.for` nest;
    a single row is split into parallel chunks of 256 vectors), and per row
    an `scf.for` writing 4 vectors of `vector-width * 32 / bits` lanes per
    step (`vector.store`, and `vector.load` of the source for a copy), the
    remaining full vectors, and one `vector.maskedstore` tail. Other fills
    and copies (dynamic shapes, non-unit inner stride) are left to the
    generic lowering. Runs after the kernels, which may consume a fill.
  }];
  let dependentDialects = ["mlir::arith::ArithDialect",
                           "mlir::memref::MemRefDialect",
                           "mlir::scf::SCFDialect",
                           "mlir::vector::VectorDialect"];
  let options = [
    Option<"vectorWidth", "vector-width", "int64_t", "16",
           "f32 lanes per vector (lanes scale with the element width)">,
    Option<"parallel", "parallel", "bool", "true",
           "Outer rows in an scf.parallel (OpenMP) rather than an scf.for nest">,
    Option<"minParallel", "min-parallel", "int64_t", "16384",
           "Elements below which the loops stay sequential">,
  ];
}

def MemRefCopyToLinalg
    : Pass<"buddy-memref-copy-to-linalg", "mlir::func::FuncOp"> {
  let summary = "Rewrite memref.copy as linalg.copy so copies lower to loops";
  let description = [{
    Bufferization and `buffer-results-to-out-params` materialize copies as
    `memref.copy`, which `finalize-memref-to-llvm` turns into a call to the
    `memrefCopy` runtime function whenever a layout is not the identity. A
    compiled model would then need MLIR's C runner library at load time, and
    a cross-compiled one would need it built for the target. This pass turns
    each `memref.copy` into `linalg.copy`, which later lowers to loops
    (vector rows by buddy-fill-copy-vectorize when statically shaped), so
    compiled code has no runtime-library dependency.
  }];
  let dependentDialects = ["mlir::linalg::LinalgDialect"];
}

def FuseElementwise
    : Pass<"buddy-fuse-elementwise", "mlir::func::FuncOp"> {
  let summary = "Fuse chains of elementwise linalg.generic ops on tensors "
                "where it saves memory traffic";
  let description = [{
    Runs upstream's linalg elementwise producer/consumer fusion on tensors
    (before bufferization) with a Buddy control function: a producer
    `linalg.generic` (all loops parallel) is fused into a consumer
    `linalg.generic` (elementwise or a reduction) only when every use of the
    producer is that consumer and the consumer reads it through a
    permutation map, so nothing is recomputed (a `[rows, 1]` rsqrt feeding a
    broadcasting multiply stays separate). Bias add + activation, residual
    add chains, x*x into a sum, ... become one loop nest and their
    intermediate tensors disappear. RMSNorm scale generics (the form of
    include/buddy/RmsNorm.h) and named ops (matmul, conv, fill, softmax) are
    never fused, so the Buddy kernel passes still see them.
  }];
  let dependentDialects = ["mlir::linalg::LinalgDialect",
                           "mlir::tensor::TensorDialect"];
}

def SoftmaxVectorize
    : Pass<"buddy-softmax-vectorize", "mlir::func::FuncOp"> {
  let summary = "Lower f32 linalg.softmax over the last dimension of memrefs "
                "to a vectorized row kernel";
  let description = [{
    Replaces `linalg.softmax dimension(rank-1)` on f32 memrefs (unit inner
    stride; the frontend emits it for `aten._softmax` over the last
    dimension) by one kernel per row, rows in an `scf.parallel` (`parallel`,
    and at least 16384 elements when the shape is static) or an `scf.for` nest:
      sweep 1: m = max(x) with `arith.maximumf` on `vector<vector-width x f32>`
               (masked tail padded with -inf), `vector.reduction <maximumf>`;
      sweep 2: y = exp(x - m) stored, s = sum(y) (padding lanes selected to 0);
      sweep 3: y = y * (1 / s).
    A row stays in cache across the sweeps. Rows that are entirely -inf give
    NaN, like PyTorch. The kernel's `math.exp` on vectors is expanded with
    MLIR's polynomial approximation (no scalar libm call per lane), on the
    input clamped at -87 so that no denormal is ever computed (lanes below
    the clamp, e.g. masked -inf, give exactly 0; torch's value there is a
    denormal or 0). Any other
    `linalg.softmax` on memrefs is an error (nothing else lowers it).
  }];
  let dependentDialects = ["mlir::arith::ArithDialect",
                           "mlir::math::MathDialect",
                           "mlir::memref::MemRefDialect",
                           "mlir::scf::SCFDialect",
                           "mlir::vector::VectorDialect"];
  let options = [
    Option<"vectorWidth", "vector-width", "int64_t", "16", "f32 lanes per vector">,
    Option<"parallel", "parallel", "bool", "true",
           "Rows in an scf.parallel (OpenMP) rather than an scf.for nest">,
  ];
}

def RmsNormVectorize
    : Pass<"buddy-rmsnorm-vectorize", "mlir::func::FuncOp"> {
  let summary = "Lower RMSNorm generics (include/buddy/RmsNorm.h) to a "
                "vectorized row kernel on memrefs";
  let description = [{
    The frontend raises RMSNorm (Core ATen pow/mean/add/rsqrt/mul/mul) to
    `buddy.rms_norm` and lowers it to a zero `linalg.fill`, a sum-of-squares
    reduction `s = sum(x * x)` over the last dim, and an elementwise
    `linalg.generic` `ins(x, s[, w]) outs(y)` computing
    `y = x * rsqrt(s / N + eps) [* w]` with constant N and eps (a correct
    lowering on its own; no attribute marks it). include/buddy/RmsNorm.h
    defines the form and its matchers. On f32 memrefs (unit inner stride,
    `w` 1-D, N the static row length) whose s is provably that reduction of
    the same x (a zero fill and the reduction are its only writers), this
    pass replaces the scale generic by one kernel per row (rows in an
    `scf.parallel` as for --buddy-softmax-vectorize, or an `scf.for` nest):
      sweep 1: s = sum(x * x) with `vector.fma` (masked tail padded with 0);
      sweep 2: y = x * rsqrt(s / N + eps) [* w].
    The reduction and its fill are erased when nothing else reads the sum.
    Other IR, including the right shape with other arithmetic, is left
    unchanged.
  }];
  let dependentDialects = ["mlir::arith::ArithDialect",
                           "mlir::math::MathDialect",
                           "mlir::memref::MemRefDialect",
                           "mlir::scf::SCFDialect",
                           "mlir::vector::VectorDialect"];
  let options = [
    Option<"vectorWidth", "vector-width", "int64_t", "16", "f32 lanes per vector">,
    Option<"parallel", "parallel", "bool", "true",
           "Rows in an scf.parallel (OpenMP) rather than an scf.for nest">,
  ];
}

def OutlineLoopNests
    : Pass<"buddy-outline-loop-nests", "mlir::ModuleOp"> {
  let summary = "Outline every top-level loop nest of a function into its own "
                "private, internal, noinline function";
  let description = [{
    Runs on memrefs after the loops are formed (Buddy kernels,
    `--convert-linalg-to-(parallel-)loops`) and before `--convert-scf-to-openmp`.
    Every op with regions directly in a function body (an `scf.for`,
    `scf.parallel` or `scf.if` nest) with at least `min-ops` nested ops is
    moved into a new `func.func private @<f>__outlined<N>` and replaced by a
    `func.call`. The values it reads from the function become arguments,
    except operand-free constants, which are cloned (loop bounds stay
    constant); its results become the function's results. Ops yielding a
    memref are left in place. With `dedupe` (default), loop nests that
    outline to the same function (same ops, types, attributes and cloned
    constants: every layer of a model repeats the same ones) share one
    function, so the code of a 30-layer model is close to one layer's. A
    strided memref argument with a static offset that the nest only loads
    from and stores to (e.g. one layer's slice of the KV cache) is passed
    with a dynamic offset (a `memref.cast` at the call), so that the layers
    share the function.

    The new functions carry `llvm.linkage = #llvm.linkage<internal>` (a
    private `func.func` alone lowers to an external symbol; internal ones
    never clash when several compiled graphs are linked together) and
    `passthrough = ["noinline"]` (LLVM would inline each single-call function
    back). A whole model lowered to one `func.func` otherwise costs
    superlinear time in `--convert-scf-to-cf`, the OpenMP translation and
    LLVM's `opt`/`llc`; split this way the cost is linear in the model size.
    Run `--llvm-request-c-wrappers` before this pass so that only the
    original functions get C interfaces.
  }];
  let dependentDialects = ["mlir::func::FuncDialect",
                           "mlir::LLVM::LLVMDialect",
                           "mlir::memref::MemRefDialect"];
  let options = [
    Option<"minOps", "min-ops", "int64_t", "0",
           "Outline only region ops with at least this many nested ops">,
    Option<"dedupe", "dedupe", "bool", "true",
           "Call one function for identical outlined loop nests">,
  ];
}

def ConvertLinalgToGemmini
    : Pass<"buddy-convert-linalg-to-gemmini", "mlir::func::FuncOp"> {
  let summary = "int8 linalg.matmul / batch_matmul / conv_2d with i32 accumulation on memrefs -> gemmini.tile_matmul";
  let description = [{
    Matches `linalg.matmul ins(%a, %b : memref<MxKxi8>, memref<KxNxi8>)
    outs(%c : memref<MxNxi32>)` with the default (untransposed) indexing maps
    and rewrites it to `gemmini.tile_matmul %a, %b -> %c` (docs/gemmini.md).
    linalg.matmul accumulates into C: when C's only writer before the matmul
    (in the same block) is a `linalg.fill` of zero, the fill is erased and
    the tile op overwrites C; otherwise C itself is the MxN i32 bias, so
    C = A @ B + C is kept exactly. A zero-filled C that only a following
    `linalg.generic` reads, computing an i8 output as
    `fptosi(minimumf(maximumf(roundeven(sitofp(acc [+ bias]) * scale), -128), 127))`
    (bias i32, per column or MxN; constant f32 scale), folds with it into one
    tile op with that `bias` and `scale` writing the i8 output (Gemmini's
    accumulator scale is exactly this arithmetic); the dead i32 buffer goes.
    int8 x int8 -> i32 `linalg.conv_2d_nhwc_hwcf` and `linalg.conv_2d_nchw_fchw`
    (static identity-layout memrefs, any strides and dilations) become the
    same tile op on their im2col GEMM: a `linalg.generic` copy of the input
    windows into an [N*OH*OW, KH*KW*C] i8 buffer (run on the core), the filter
    as [KH*KW*C, F] (a view of HWCF; a `linalg.transpose` of FCHW in (c, kh, kw)
    order), C a view of an NHWC output or, for NCHW, a buffer transposed into
    the output after. The zero fill and the requantizing generic (4-D, bias
    per output channel) fold in as for the matmul. A padded input (a buffer
    filled with a constant that the input is copied into, read by the conv
    only) folds into the im2col: it reads the unpadded input inside it and
    writes the fill value elsewhere; the padded buffer goes.
    int8 x int8 -> i32 `linalg.batch_matmul` (static identity-layout
    [B,M,K], [B,K,N] -> [B,M,N] memrefs, default maps) becomes an `scf.for`
    over the batch of the tile op on `memref.subview`s of batch i with the
    batch dimension dropped; the zero fill and a 3-D requantizing generic
    (bias per column, [N]) fold in as for the matmul.
    Everything else is left alone.
    `buddy::gemmini::convertLinalgToGemmini` (buddy/Gemmini/Transforms.h) is
    the transform; this pass wraps it. Option `dataflow` (`ws` | `os`).
  }];
  let options = [
    Option<"dataflow", "dataflow", "std::string", "\"ws\"",
           "Systolic-array dataflow of the tile ops: ws or os">,
  ];
  let dependentDialects = ["::buddy::gemmini::GemminiDialect", "::mlir::arith::ArithDialect",
                           "::mlir::memref::MemRefDialect", "::mlir::scf::SCFDialect"];
}

def LowerGemmini : Pass<"buddy-lower-gemmini", "mlir::func::FuncOp"> {
  let summary = "gemmini.tile_matmul -> Gemmini instruction ops (mvin, preload, compute, mvout)";
  let description = [{
    Static-shape, row-major tile ops (identity layouts, or strided [cols, 1]
    at any offset: a subview dropping outer dims, its offset added to the
    aligned pointer) become the instruction sequence of
    tests/python/support/gemmini_tiling.py (docs/gemmini.md): C tiles in the
    accumulator, A/B tiles in the scratchpad, remainders through the
    rows/cols fields, both dataflows, bias and scaled (or full-width i32)
    mvout. The reference's loops (tiles, blocks, mvin groups) become scf.for
    over i64, one per run of iterations with the same static fields; the
    remainder tile/block and the other special iterations are peeled with
    constant indices. rs1/rs2 are arith (muli, addi) on the induction
    variables and the aligned pointers: the executed sequence is the
    reference's, the code a few hundred ops whatever the shape.
    `buddy::gemmini::lowerGemmini` (buddy/Gemmini/Transforms.h) is the
    transform. Options `tile-i tile-j tile-k` (blocks; 0 = chosen) and
    `max-instructions` (bound on the static instruction ops).
  }];
  let options = [
    Option<"tileI", "tile-i", "int64_t", "0", "C tile rows in 16-row blocks (0: chosen)">,
    Option<"tileJ", "tile-j", "int64_t", "0", "C tile columns in 16-column blocks (0: chosen)">,
    Option<"tileK", "tile-k", "int64_t", "0", "K blocks per scratchpad tile (0: chosen)">,
    Option<"maxInstructions", "max-instructions", "int64_t", "200000",
           "Error out above this many instruction ops (static) per tile op">,
  ];
  let dependentDialects = ["::buddy::gemmini::GemminiDialect", "mlir::arith::ArithDialect",
                           "mlir::memref::MemRefDialect", "mlir::scf::SCFDialect"];
}

def ConvertGemminiToLLVM : Pass<"buddy-convert-gemmini-to-llvm", "mlir::func::FuncOp"> {
  let summary = "Gemmini instruction ops -> RoCC custom instructions (LLVM inline asm, riscv64)";
  let description = [{
    Every instruction op (`gemmini.config_ex` ... `gemmini.flush`) becomes
    `llvm.inline_asm has_side_effects ".insn r 0x7b, 3, <funct7>, x0, $0, $1"`
    on its two i64 operands, with a memory clobber: opcode custom3, funct3 011
    (xs1, xs2, no xd), the register numbers chosen by the RISC-V backend.
    Run before (or with) the usual conversions to the LLVM dialect; the result
    only assembles for riscv64. `buddy::gemmini::convertGemminiToLLVM`
    (buddy/Gemmini/Transforms.h) is the transform.
  }];
  let dependentDialects = ["mlir::LLVM::LLVMDialect"];
}

#endif // BUDDY_PASSES_TD
