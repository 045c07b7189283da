// Model.h - a functional (not cycle) model of the Gemmini accelerator in its
// default configuration: architectural state and the effect of each
// instruction given (funct, rs1, rs2) exactly as the ISA encodes them.
//
// State: the scratchpad (rows of DIM int8), the accumulator (rows of DIM
// int32), the config_ex / config_mvin (x3) / config_mvout registers, and the
// systolic array's stationary contents (OS: the DIM x DIM int32 partial sums;
// WS: the DIM x DIM int8 weights). DRAM is the host's memory: rs1 of mvin/mvout
// is a host address, and every access must fall inside a window registered
// with mapDram() (a tiling bug is an error, not a stray read).
//
// Arithmetic (see runtime/gemmini/README.md for the sources):
//  - A*B is exact in int32; OS partial sums stay in 32-bit PE registers and
//    leave the array rounding-right-shifted by the config_ex shift and clipped
//    to the 20-bit spatial-array output type; WS outputs are the same 20-bit
//    type (a DIM-long int8 dot product plus an int8 D always fits);
//  - array results written to the scratchpad saturate to int8; written to the
//    accumulator they overwrite or (address bit 30) add, in int32;
//  - mvout from the accumulator with bit 29 clear: float32(x) * scale rounded
//    to nearest-even, saturated to int8, then the activation (ReLU); with
//    bit 29 set: the raw int32;
//  - mvin into the scratchpad: the same scale-round-saturate with the mvin
//    scale (1.0 is the identity); into the accumulator: int32 rows (or int8
//    rows, sign-extended, when config_mvin set "shrunk"), no scaling.
#ifndef BUDDY_GEMMINI_MODEL_H
#define BUDDY_GEMMINI_MODEL_H

#include "buddy/gemmini/Isa.h"

#include <array>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace buddy::gemmini {

/// Generator parameters of Gemmini's default configuration (GemminiConfigs
/// defaultConfig, gemmini_params.h): 16x16 array, 256 KiB scratchpad in 4
/// banks of 4096 rows, 64 KiB accumulator (1024 rows of 16 int32), 64-byte
/// DMA requests, 20-bit spatial-array output type.
struct Params {
  uint32_t dim = 16;
  uint32_t spBanks = 4;
  uint32_t spBankRows = 4096;
  uint32_t accRows = 1024;
  uint32_t dmaMaxBytes = 64;
  uint32_t outputBits = 20;

  uint32_t spRows() const { return spBanks * spBankRows; }
  /// Largest cols of one mvin of elements of `elemBytes` (whole DIM blocks).
  uint32_t maxMvinCols(uint32_t elemBytes) const {
    uint32_t blocks = dmaMaxBytes / (dim * elemBytes);
    return dim * (blocks == 0 ? 1 : blocks);
  }
};

/// A malformed or unsupported instruction (the message says which and why).
struct GemminiError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// The instruction's name ("mvin", "compute_preloaded", ...; "unknown").
const char *functName(uint32_t funct);

struct Counters {
  std::array<uint64_t, kNumFuncts> byFunct{};
  uint64_t instructions = 0;
  uint64_t bytesIn = 0;  // DRAM -> scratchpad/accumulator (mvin)
  uint64_t bytesOut = 0; // scratchpad/accumulator -> DRAM (mvout)
  /// Multiply-accumulates of the operands inside their rows/cols fields
  /// (A rows x min(A cols, B rows) x B cols per compute; WS: B is the
  /// preloaded weights); a tiled M x N x K matmul sums to M * N * K.
  uint64_t macs = 0;
};

class Model {
public:
  explicit Model(Params p = Params());

  const Params &params() const { return p_; }

  /// Applies one instruction. Throws GemminiError (state as far as applied).
  void execute(uint32_t funct, uint64_t rs1, uint64_t rs2);
  /// The same from a RoCC instruction word and the values of its two source
  /// registers: checks opcode custom3, xs1 = xs2 = 1, xd = 0.
  void executeWord(uint32_t word, uint64_t rs1Value, uint64_t rs2Value);

  /// DRAM windows mvin may read and mvout may write.
  void mapDram(uint64_t base, uint64_t bytes);
  void unmapDram() { windows_.clear(); }

  /// Clears memories, configuration and counters (DRAM windows stay).
  void reset();
  void resetCounters() { counters_ = Counters(); }
  const Counters &counters() const { return counters_; }

  int8_t sp(uint32_t row, uint32_t col) const;
  int32_t acc(uint32_t row, uint32_t col) const;
  void setSp(uint32_t row, uint32_t col, int8_t v);
  void setAcc(uint32_t row, uint32_t col, int32_t v);

  const ConfigEx &configEx() const { return ex_; }
  const ConfigLoad &configLoad(uint32_t id) const { return ld_.at(id); }
  uint64_t storeStride() const { return stStride_; }

  /// The arithmetic helpers, exposed for tests and references.
  static int32_t roundingShift(int32_t x, uint32_t shift);
  static int32_t clipBits(int64_t x, uint32_t bits);
  static int8_t scaleToInt8(int32_t x, float scale);

private:
  using Tile = std::vector<int32_t>; // dim x dim, row-major

  void config(uint64_t rs1, uint64_t rs2);
  void mvin(uint32_t id, uint64_t dram, uint64_t rs2);
  void mvout(uint64_t dram, uint64_t rs2);
  void preload(uint64_t rs1, uint64_t rs2);
  void compute(bool preloaded, uint64_t rs1, uint64_t rs2);

  void checkDram(uint64_t addr, uint64_t bytes, const char *what) const;
  void checkRows(const LocalAddr &a, uint32_t rows, uint32_t stride, const char *what) const;
  Tile readOperand(const AddrRowsCols &f, uint32_t rowStride, const char *what) const;
  void writeResult(const AddrRowsCols &f, const Tile &t);

  Params p_;
  std::vector<int8_t> sp_;
  std::vector<int32_t> acc_;
  ConfigEx ex_;
  std::array<ConfigLoad, 3> ld_;
  uint64_t stStride_ = 0;

  bool havePreload_ = false;
  AddrRowsCols preBD_, preC_;
  Tile osAcc_;  // OS: the array's partial sums
  Tile weights_; // WS: the stationary B
  uint32_t weightRows_ = 0, weightCols_ = 0; // WS: its rows/cols fields

  std::vector<std::pair<uint64_t, uint64_t>> windows_;
  Counters counters_;
};

} // namespace buddy::gemmini

#endif // BUDDY_GEMMINI_MODEL_H
