// RUN: buddy-opt %s --buddy-convert-linalg-to-gemmini | FileCheck %s
// RUN: buddy-opt %s --buddy-convert-linalg-to-gemmini=dataflow=os | FileCheck %s --check-prefix=OS
// OS-COUNT-5: gemmini.tile_matmul {{.+}}dataflow = "os"
// int8 conv_2d -> im2col (a linalg.generic copy on the core) + gemmini.tile_matmul on the
// filter as [K, F]; the zero fill and the 4-D requant generic (bias per channel, ReLU) fold
// into the tile op. Run under qemu: tests/python/gemmini/test_gemmini_conv.py.

#id = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#c3 = affine_map<(d0, d1, d2, d3) -> (d3)>
#c1 = affine_map<(d0, d1, d2, d3) -> (d1)>

// The source maps of the im2col copies: (n, oh, ow, kh, kw, c) -> (n, oh*2 + kh, ow*2 + kw, c)
// (stride 2) and (n, oh, ow, c, kh, kw) -> (n, c, oh + kh*2, ow + kw*2) (dilation 2).
// CHECK-DAG: #[[SRC:.+]] = affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1 * 2 + d3, d2 * 2 + d4, d5)>
// CHECK-DAG: #[[ID6:.+]] = affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d2, d3, d4, d5)>
// CHECK-DAG: #[[NSRC:.+]] = affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d3, d1 + d4 * 2, d2 + d5 * 2)>

// NHWC/HWCF, stride 2: the filter is a view, C a view of the i8 output.
// CHECK-LABEL: func @nhwc_requant
// CHECK: %[[COL:.+]] = memref.alloc() {alignment = 64 : i64} : memref<2x5x6x3x3x3xi8>
// CHECK: linalg.generic {indexing_maps = [#[[SRC]], #[[ID6]]], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel", "parallel"]} ins(%arg0 : memref<2x11x13x3xi8>) outs(%[[COL]] : memref<2x5x6x3x3x3xi8>)
// CHECK: %[[A:.+]] = memref.collapse_shape %[[COL]] {{\[\[}}0, 1, 2], [3, 4, 5]] : memref<2x5x6x3x3x3xi8> into memref<60x27xi8>
// CHECK: %[[B:.+]] = memref.collapse_shape %arg1 {{\[\[}}0, 1, 2], [3]] : memref<3x3x3x20xi8> into memref<27x20xi8>
// CHECK: %[[C:.+]] = memref.collapse_shape %arg3 {{\[\[}}0, 1, 2], [3]] : memref<2x5x6x20xi8> into memref<60x20xi8>
// CHECK: gemmini.tile_matmul %[[A]], %[[B]] -> %[[C]] bias %arg2 : memref<20xi32> {relu, scale = 1.562500e-02 : f32} : memref<60x27xi8>, memref<27x20xi8>, memref<60x20xi8>
// CHECK: memref.dealloc %[[COL]]
// CHECK-NOT: linalg.
// CHECK: return
func.func @nhwc_requant(%x: memref<2x11x13x3xi8>, %w: memref<3x3x3x20xi8>, %bias: memref<20xi32>,
                        %out: memref<2x5x6x20xi8>) {
  %z = arith.constant 0 : i32
  %acc = memref.alloc() : memref<2x5x6x20xi32>
  linalg.fill ins(%z : i32) outs(%acc : memref<2x5x6x20xi32>)
  linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : tensor<2xi64>, strides = dense<2> : tensor<2xi64>}
      ins(%x, %w : memref<2x11x13x3xi8>, memref<3x3x3x20xi8>) outs(%acc : memref<2x5x6x20xi32>)
  linalg.generic {indexing_maps = [#id, #c3, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%acc, %bias : memref<2x5x6x20xi32>, memref<20xi32>) outs(%out : memref<2x5x6x20xi8>) {
  ^bb0(%v: i32, %bv: i32, %o: i8):
    %s = arith.addi %v, %bv : i32
    %f = arith.sitofp %s : i32 to f32
    %c = arith.constant 0.015625 : f32
    %m = arith.mulf %f, %c : f32
    %r = math.roundeven %m : f32
    %lo = arith.constant -128.0 : f32
    %hi = arith.constant 127.0 : f32
    %l = arith.maximumf %r, %lo : f32
    %h = arith.minimumf %l, %hi : f32
    %i = arith.fptosi %h : f32 to i8
    %z8 = arith.constant 0 : i8
    %y = arith.maxsi %i, %z8 : i8
    linalg.yield %y : i8
  }
  memref.dealloc %acc : memref<2x5x6x20xi32>
  return
}

// NCHW/FCHW, dilation 2: im2col in (c, kh, kw) order, the filter transposed on the core, C a
// [N, OH*OW, F] buffer transposed into the output after.
// CHECK-LABEL: func @nchw_requant
// CHECK: %[[COL:.+]] = memref.alloc() {alignment = 64 : i64} : memref<2x7x9x3x3x3xi8>
// CHECK: linalg.generic {indexing_maps = [#[[NSRC]], #[[ID6]]], {{.+}} ins(%arg0 : memref<2x3x11x13xi8>) outs(%[[COL]] : memref<2x7x9x3x3x3xi8>)
// CHECK: %[[A:.+]] = memref.collapse_shape %[[COL]] {{.+}} into memref<126x27xi8>
// CHECK: %[[WT:.+]] = memref.alloc() {alignment = 64 : i64} : memref<27x20xi8>
// CHECK: %[[W2:.+]] = memref.collapse_shape %arg1 {{\[\[}}0], [1, 2, 3]] : memref<20x3x3x3xi8> into memref<20x27xi8>
// CHECK: linalg.transpose ins(%[[W2]] : memref<20x27xi8>) outs(%[[WT]] : memref<27x20xi8>) permutation = [1, 0]
// CHECK: %[[T:.+]] = memref.alloc() {alignment = 64 : i64} : memref<2x63x20xi8>
// CHECK: %[[C:.+]] = memref.collapse_shape %[[T]] {{\[\[}}0, 1], [2]] : memref<2x63x20xi8> into memref<126x20xi8>
// CHECK: gemmini.tile_matmul %[[A]], %[[WT]] -> %[[C]] bias %arg2 : memref<20xi32> {relu, scale = 1.562500e-02 : f32}
// CHECK: %[[O:.+]] = memref.collapse_shape %arg3 {{\[\[}}0], [1], [2, 3]] : memref<2x20x7x9xi8> into memref<2x20x63xi8>
// CHECK: linalg.transpose ins(%[[T]] : memref<2x63x20xi8>) outs(%[[O]] : memref<2x20x63xi8>) permutation = [0, 2, 1]
// CHECK: memref.dealloc %[[T]]
// CHECK: memref.dealloc %[[COL]]
// CHECK: memref.dealloc %[[WT]]
// CHECK: return
func.func @nchw_requant(%x: memref<2x3x11x13xi8>, %w: memref<20x3x3x3xi8>, %bias: memref<20xi32>,
                        %out: memref<2x20x7x9xi8>) {
  %z = arith.constant 0 : i32
  %acc = memref.alloc() : memref<2x20x7x9xi32>
  linalg.fill ins(%z : i32) outs(%acc : memref<2x20x7x9xi32>)
  linalg.conv_2d_nchw_fchw {dilations = dense<2> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
      ins(%x, %w : memref<2x3x11x13xi8>, memref<20x3x3x3xi8>) outs(%acc : memref<2x20x7x9xi32>)
  linalg.generic {indexing_maps = [#id, #c1, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%acc, %bias : memref<2x20x7x9xi32>, memref<20xi32>) outs(%out : memref<2x20x7x9xi8>) {
  ^bb0(%v: i32, %bv: i32, %o: i8):
    %s = arith.addi %v, %bv : i32
    %f = arith.sitofp %s : i32 to f32
    %c = arith.constant 0.015625 : f32
    %m = arith.mulf %f, %c : f32
    %r = math.roundeven %m : f32
    %lo = arith.constant -128.0 : f32
    %hi = arith.constant 127.0 : f32
    %l = arith.maximumf %r, %lo : f32
    %h = arith.minimumf %l, %hi : f32
    %i = arith.fptosi %h : f32 to i8
    %z8 = arith.constant 0 : i8
    %y = arith.maxsi %i, %z8 : i8
    linalg.yield %y : i8
  }
  memref.dealloc %acc : memref<2x20x7x9xi32>
  return
}

// i32 NCHW conv without a zero fill accumulates onto its output: the output is transposed
// into C, which is also the bias.
// CHECK-LABEL: func @nchw_accumulate
// CHECK: %[[T:.+]] = memref.alloc() {alignment = 64 : i64} : memref<1x36x5xi32>
// CHECK: linalg.transpose ins({{.+}} : memref<1x5x36xi32>) outs(%[[T]] : memref<1x36x5xi32>) permutation = [0, 2, 1]
// CHECK: %[[C:.+]] = memref.collapse_shape %[[T]]
// CHECK: gemmini.tile_matmul {{.+}} -> %[[C]] bias %[[C]] : memref<36x5xi32> : memref<36x18xi8>, memref<18x5xi8>, memref<36x5xi32>
// CHECK: linalg.transpose ins(%[[T]] : memref<1x36x5xi32>) {{.+}} permutation = [0, 2, 1]
func.func @nchw_accumulate(%x: memref<1x2x8x8xi8>, %w: memref<5x2x3x3xi8>, %out: memref<1x5x6x6xi32>) {
  linalg.conv_2d_nchw_fchw {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
      ins(%x, %w : memref<1x2x8x8xi8>, memref<5x2x3x3xi8>) outs(%out : memref<1x5x6x6xi32>)
  return
}

// Left alone: an f32 conv.
// CHECK-LABEL: func @not_taken
// CHECK: linalg.conv_2d_nhwc_hwcf
// CHECK-SAME: f32
func.func @not_taken(%x: memref<1x5x5x2xf32>, %w: memref<3x3x2x4xf32>, %out: memref<1x3x3x4xf32>) {
  linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
      ins(%x, %w : memref<1x5x5x2xf32>, memref<3x3x2x4xf32>) outs(%out : memref<1x3x3x4xf32>)
  return
}

// A zero-padded input (filled buffer + copy into a subview, read by the conv only) folds into
// the im2col: it loads the unpadded input at the window position minus the padding where that
// is inside it (an unsigned compare per spatial dimension) and selects the fill value
// elsewhere; the padded buffer, its fill and the copy are gone. (The conv accumulates onto
// %out: a fill of %out between the copy and the conv would stop the fold, %out might alias %x.)
// CHECK-LABEL: func @nhwc_padded
// CHECK-NOT: memref.copy
// CHECK-NOT: memref<1x7x7x2xi8>
// CHECK: %[[COL:.+]] = memref.alloc() {alignment = 64 : i64} : memref<1x5x5x3x3x2xi8>
// CHECK: linalg.generic {indexing_maps = [#[[ID6]]], {{.+}} outs(%[[COL]] : memref<1x5x5x3x3x2xi8>)
// CHECK: arith.cmpi ult, {{.+}}, %c5
// CHECK: %[[LD:.+]] = memref.load %arg0[{{.+}}] : memref<1x5x5x2xi8>
// CHECK: arith.select {{.+}}, %[[LD]], %c0_i8 : i8
// CHECK: gemmini.tile_matmul {{.+}} -> %[[C:.+]] bias %[[C]] : memref<25x4xi32> : memref<25x18xi8>, memref<18x4xi8>, memref<25x4xi32>
// CHECK-NOT: memref.copy
// CHECK: return
func.func @nhwc_padded(%x: memref<1x5x5x2xi8>, %w: memref<3x3x2x4xi8>, %out: memref<1x5x5x4xi32>) {
  %pad = arith.constant 0 : i8
  %p = memref.alloc() : memref<1x7x7x2xi8>
  linalg.fill ins(%pad : i8) outs(%p : memref<1x7x7x2xi8>)
  %s = memref.subview %p[0, 1, 1, 0] [1, 5, 5, 2] [1, 1, 1, 1] : memref<1x7x7x2xi8> to memref<1x5x5x2xi8, strided<[98, 14, 2, 1], offset: 16>>
  memref.copy %x, %s : memref<1x5x5x2xi8> to memref<1x5x5x2xi8, strided<[98, 14, 2, 1], offset: 16>>
  linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
      ins(%p, %w : memref<1x7x7x2xi8>, memref<3x3x2x4xi8>) outs(%out : memref<1x5x5x4xi32>)
  memref.dealloc %p : memref<1x7x7x2xi8>
  return
}

// The padded buffer is read by something else too: the im2col reads it as it is.
// CHECK-LABEL: func @padded_read_twice
// CHECK: memref.copy
// CHECK: linalg.generic {indexing_maps = [#{{.+}}, #[[ID6]]], {{.+}} ins(%{{.+}} : memref<1x7x7x2xi8>)
// CHECK: gemmini.tile_matmul
// CHECK: memref.load %{{.+}} : memref<1x7x7x2xi8>
func.func @padded_read_twice(%x: memref<1x5x5x2xi8>, %w: memref<3x3x2x4xi8>, %out: memref<1x5x5x4xi32>,
                             %i: index) -> i8 {
  %z = arith.constant 0 : i32
  %pad = arith.constant 0 : i8
  %p = memref.alloc() : memref<1x7x7x2xi8>
  linalg.fill ins(%pad : i8) outs(%p : memref<1x7x7x2xi8>)
  %s = memref.subview %p[0, 1, 1, 0] [1, 5, 5, 2] [1, 1, 1, 1] : memref<1x7x7x2xi8> to memref<1x5x5x2xi8, strided<[98, 14, 2, 1], offset: 16>>
  memref.copy %x, %s : memref<1x5x5x2xi8> to memref<1x5x5x2xi8, strided<[98, 14, 2, 1], offset: 16>>
  linalg.fill ins(%z : i32) outs(%out : memref<1x5x5x4xi32>)
  linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : tensor<2xi64>, strides = dense<1> : tensor<2xi64>}
      ins(%p, %w : memref<1x7x7x2xi8>, memref<3x3x2x4xi8>) outs(%out : memref<1x5x5x4xi32>)
  %v = memref.load %p[%i, %i, %i, %i] : memref<1x7x7x2xi8>
  return %v : i8
}
