// RoccTrap.h - runs Gemmini programs on a RISC-V CPU without Gemmini (qemu-user,
// a board without the accelerator): a SIGILL handler decodes each custom3
// RoCC word at the faulting PC, reads x[rs1] and x[rs2] from the signal
// context, applies the instruction to the functional model (Model.h) and
// resumes after it. The binary is the one hardware would run; only this file
// is linked in for simulation. DRAM is the process's own memory: mvin reads
// and mvout writes the program's virtual addresses.
//
// riscv64 Linux only (the ucontext layout); built by tests/python/gemmini/
// test_gemmini_qemu.py with riscv64-linux-gnu-g++.
#ifndef BUDDY_GEMMINI_ROCCTRAP_H
#define BUDDY_GEMMINI_ROCCTRAP_H

#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Installs the SIGILL handler and creates the model (idempotent). Also run
/// by a static constructor, so linking RoccTrap.o is enough. Returns 0, or -1
/// if sigaction failed.
int buddy_gemmini_sim_install(void);

/// Restricts DRAM to windows: after the first call, an mvin/mvout outside
/// every window registered so far stops the program with the model's error
/// (by default the whole address space is DRAM, as for the hardware).
void buddy_gemmini_sim_map(const void *base, uint64_t bytes);

/// Writes the counters as `key value` lines: traps, instructions, one
/// `funct.<name>` line per instruction kind executed, bytes_in, bytes_out,
/// macs. Also written at exit to the file named by $BUDDY_GEMMINI_STATS
/// ("-" = stderr) when that is set.
void buddy_gemmini_sim_report(FILE *out);

#ifdef __cplusplus
} // extern "C"
#endif

#endif // BUDDY_GEMMINI_ROCCTRAP_H
