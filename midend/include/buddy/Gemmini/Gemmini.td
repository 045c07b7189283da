//===- Gemmini.td - the gemmini dialect ------------------*- tablegen -*-===//
//
// Ops for the Gemmini accelerator (docs/gemmini.md):
//  - `gemmini.tile_matmul`: C = requant(A @ B + bias) on memrefs, the unit the
//    compiler maps onto the accelerator (int8 A, B; int32 accumulation);
//  - one op per Gemmini instruction, taking the two 64-bit register values
//    rs1, rs2 exactly as the ISA encodes them (runtime/gemmini/Isa.h is the
//    bit layout). Each carries its funct7 as `kFunct`.
//
//===----------------------------------------------------------------------===//

#ifndef BUDDY_GEMMINI_TD
#define BUDDY_GEMMINI_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/CommonAttrConstraints.td"
include "mlir/IR/CommonTypeConstraints.td"

def Gemmini_Dialect : Dialect {
  let name = "gemmini";
  let cppNamespace = "::buddy::gemmini";
  let summary = "The Gemmini systolic-array accelerator (RoCC, opcode custom3)";
}

class Gemmini_Op<string mnemonic, list<Trait> traits = []>
    : Op<Gemmini_Dialect, mnemonic, traits>;

def Gemmini_TileMatmulOp : Gemmini_Op<"tile_matmul"> {
  let summary = "C = requant(A @ B + bias): int8 inputs, int32 accumulation";
  let description = [{
    A is MxK i8, B is KxN i8, C is MxN: i8 (the int32 sum plus bias, times
    `scale` in float32, rounded to nearest-even, saturated to int8, then ReLU
    if `relu`) or i32 (the exact sum plus bias; `scale` must be 1 and `relu`
    absent). `bias` is i32, N (one value per column) or MxN. `dataflow` is
    `ws` (weight-stationary) or `os` (output-stationary). C is overwritten.

      gemmini.tile_matmul %a, %b -> %c bias %bias : memref<8xi32>
          {scale = 0.125 : f32, dataflow = "ws"}
          : memref<4x16xi8>, memref<16x8xi8>, memref<4x8xi8>
  }];
  let arguments = (ins MemRefRankOf<[I8], [2]>:$a,
                       MemRefRankOf<[I8], [2]>:$b,
                       MemRefRankOf<[I8, I32], [2]>:$c,
                       Optional<MemRefRankOf<[I32], [1, 2]>>:$bias,
                       DefaultValuedAttr<F32Attr, "1.0f">:$scale,
                       DefaultValuedStrAttr<StrAttr, "ws">:$dataflow,
                       UnitAttr:$relu);
  let assemblyFormat = [{
    $a `,` $b `->` $c (`bias` $bias^ `:` type($bias))? attr-dict `:` type($a) `,` type($b) `,` type($c)
  }];
  let hasVerifier = 1;
}

// One instruction: funct7 `funct`, register values rs1 and rs2 (i64).
class Gemmini_InstrOp<string mnemonic, int funct, string doc>
    : Gemmini_Op<mnemonic> {
  let summary = doc;
  let arguments = (ins I64:$rs1, I64:$rs2);
  let assemblyFormat = "$rs1 `,` $rs2 attr-dict";
  let extraClassDeclaration = "static constexpr unsigned kFunct = " # funct # ";";
}

def Gemmini_ConfigExOp : Gemmini_InstrOp<"config_ex", 0,
    "config_ex: rs1[1:0]=00, dataflow rs1[2], activation rs1[4:3], A stride rs1[31:16], "
    "scale rs1[63:32]; rs2 = OS shift | relu6 shift << 32">;
def Gemmini_ConfigLdOp : Gemmini_InstrOp<"config_ld", 0,
    "config_mvin: rs1[1:0]=01, shrunk rs1[2], mvin id rs1[4:3], scale rs1[63:32]; rs2 = stride (bytes)">;
def Gemmini_ConfigStOp : Gemmini_InstrOp<"config_st", 0,
    "config_mvout: rs1[1:0]=10; rs2 = stride (bytes)">;
def Gemmini_MvinOp : Gemmini_InstrOp<"mvin", 2,
    "mvin: rs1 = DRAM address; rs2 = local address | cols << 32 | rows << 48">;
def Gemmini_Mvin2Op : Gemmini_InstrOp<"mvin2", 1, "mvin with the second config_mvin set">;
def Gemmini_Mvin3Op : Gemmini_InstrOp<"mvin3", 14, "mvin with the third config_mvin set">;
def Gemmini_MvoutOp : Gemmini_InstrOp<"mvout", 3,
    "mvout: rs1 = DRAM address; rs2 = local address | cols << 32 | rows << 48">;
def Gemmini_PreloadOp : Gemmini_InstrOp<"preload", 6,
    "preload: rs1 = D (OS) / B (WS) operand, rs2 = C destination (address | cols | rows)">;
def Gemmini_ComputePreloadedOp : Gemmini_InstrOp<"compute_preloaded", 4,
    "compute on the preloaded D (OS) / B (WS): rs1 = A, rs2 = B (OS) / D (WS)">;
def Gemmini_ComputeAccumulatedOp : Gemmini_InstrOp<"compute_accumulated", 5,
    "compute on the array's state (OS partial sums / WS weights): rs1 = A, rs2 = B / D">;
def Gemmini_FlushOp : Gemmini_InstrOp<"flush", 7, "flush the TLB: rs1[0] = skip">;
def Gemmini_LoopWsOp : Gemmini_InstrOp<"loop_ws", 8,
    "the CISC weight-stationary matmul loop (after its five loop_ws_config_* words)">;

#endif // BUDDY_GEMMINI_TD
