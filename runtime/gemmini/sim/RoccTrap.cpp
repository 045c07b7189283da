// RoccTrap.cpp - the SIGILL handler that executes Gemmini's RoCC words on the
// functional model (see RoccTrap.h).
//
// riscv64 Linux signal context (glibc <sys/ucontext.h>): uc_mcontext.__gregs
// holds the integer registers with __gregs[REG_PC] (= 0) the PC of the
// faulting instruction and __gregs[i] = x_i for i = 1..31; x0 reads as 0.
// Returning from the handler resumes at the (updated) PC.
#include "RoccTrap.h"

#include "buddy/gemmini/Model.h"

#include <csignal>
#include <cstdarg>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <ucontext.h>
#include <unistd.h>

#if !defined(__riscv) || __riscv_xlen != 64 || !defined(__linux__)
#error "RoccTrap.cpp reads the riscv64 Linux signal context"
#endif

namespace gm = buddy::gemmini;

namespace {

gm::Model *gModel = nullptr;
bool gRestricted = false;
uint64_t gTraps = 0;

/// A message on stderr with write(2) (no stdio buffers in the handler).
void say(const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n > 0)
    (void)!write(2, buf, size_t(n) < sizeof buf ? size_t(n) : sizeof buf - 1);
}

/// The 32-bit word at pc, or false if the instruction there is a 16-bit
/// (compressed) one: bits [1:0] != 11.
bool wordAt(uint64_t pc, uint32_t &word) {
  uint16_t lo;
  std::memcpy(&lo, reinterpret_cast<const void *>(pc), 2);
  if ((lo & 3) != 3)
    return false;
  std::memcpy(&word, reinterpret_cast<const void *>(pc), 4);
  return true;
}

void onSigill(int sig, siginfo_t *, void *context) {
  auto *uc = static_cast<ucontext_t *>(context);
  unsigned long *x = uc->uc_mcontext.__gregs;
  uint64_t pc = x[REG_PC];
  uint32_t word = 0;
  if (!wordAt(pc, word) || (word & 0x7f) != gm::kOpcodeCustom3) {
    // A real illegal instruction: the default action when it executes again.
    say("gemmini-sim: illegal instruction 0x%08x at pc 0x%lx is not a custom3 (0x7b) "
        "RoCC word\n", word, static_cast<unsigned long>(pc));
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, nullptr);
    return;
  }
  gm::RoccWord w = gm::decodeRocc(word);
  uint64_t rs1 = w.rs1 ? x[w.rs1] : 0, rs2 = w.rs2 ? x[w.rs2] : 0;
  ++gTraps;
  try {
    gModel->executeWord(word, rs1, rs2);
  } catch (const std::exception &e) {
    say("gemmini-sim: instruction 0x%08x (funct %u, x%u = 0x%lx, x%u = 0x%lx) at pc 0x%lx: "
        "%s\n", word, w.funct7, w.rs1, static_cast<unsigned long>(rs1), w.rs2,
        static_cast<unsigned long>(rs2), static_cast<unsigned long>(pc), e.what());
    std::abort();
  }
  x[REG_PC] = pc + 4;
}

void reportAtExit() {
  const char *path = std::getenv("BUDDY_GEMMINI_STATS");
  if (!path || !*path)
    return;
  if (std::strcmp(path, "-") == 0) {
    buddy_gemmini_sim_report(stderr);
    return;
  }
  if (FILE *f = std::fopen(path, "w")) {
    buddy_gemmini_sim_report(f);
    std::fclose(f);
  } else {
    say("gemmini-sim: cannot write %s\n", path);
  }
}

} // namespace

extern "C" int buddy_gemmini_sim_install(void) {
  if (gModel)
    return 0;
  gModel = new gm::Model();
  gModel->mapDram(0, UINT64_MAX); // all of the process's memory
  struct sigaction sa {};
  sa.sa_sigaction = onSigill;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGILL, &sa, nullptr) != 0)
    return -1;
  std::atexit(reportAtExit);
  return 0;
}

extern "C" void buddy_gemmini_sim_map(const void *base, uint64_t bytes) {
  buddy_gemmini_sim_install();
  if (!gRestricted)
    gModel->unmapDram();
  gRestricted = true;
  gModel->mapDram(reinterpret_cast<uintptr_t>(base), bytes);
}

extern "C" void buddy_gemmini_sim_report(FILE *out) {
  if (!gModel)
    return;
  const gm::Counters &c = gModel->counters();
  std::fprintf(out, "traps %llu\ninstructions %llu\n", (unsigned long long)gTraps,
               (unsigned long long)c.instructions);
  for (uint32_t f = 0; f < gm::kNumFuncts; ++f)
    if (c.byFunct[f])
      std::fprintf(out, "funct.%s %llu\n", gm::functName(f), (unsigned long long)c.byFunct[f]);
  std::fprintf(out, "bytes_in %llu\nbytes_out %llu\nmacs %llu\n", (unsigned long long)c.bytesIn,
               (unsigned long long)c.bytesOut, (unsigned long long)c.macs);
  std::fflush(out);
}

namespace {
// Linking RoccTrap.o installs the handler before main.
const int gInstalled = buddy_gemmini_sim_install();
} // namespace
