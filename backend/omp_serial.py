"""A serial implementation of the libomp (``__kmpc_*``) entry points that MLIR's OpenMP
lowering emits, for static cross executables: the aarch64 / riscv64 cross toolchains ship no
libomp. Every parallel region runs on the calling thread, every worksharing loop covers its
whole range. Kept as C source in a Python module so it installs with the package;
``link.link_executable(openmp=True)`` writes and links it for cross targets only.
"""

from __future__ import annotations

from pathlib import Path

SOURCE = r"""#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct ident ident_t;
typedef void (*kmpc_micro)(int32_t *gtid, int32_t *btid, ...);

#define MAX_SHARED 16

void __kmpc_fork_call(ident_t *loc, int32_t argc, kmpc_micro task, ...) {
  (void)loc;
  void *a[MAX_SHARED];
  if (argc < 0 || argc > MAX_SHARED) {
    fprintf(stderr, "omp_serial: parallel region with %d shared arguments (max %d)\n",
            (int)argc, MAX_SHARED);
    abort();
  }
  va_list ap;
  va_start(ap, task);
  for (int32_t i = 0; i < argc; ++i) a[i] = va_arg(ap, void *);
  va_end(ap);
  int32_t gtid = 0, btid = 0;
  typedef void *P;
  switch (argc) {
#define T(...) ((void (*)(int32_t *, int32_t *, __VA_ARGS__))task)
  case 0: ((void (*)(int32_t *, int32_t *))task)(&gtid, &btid); break;
  case 1: T(P)(&gtid, &btid, a[0]); break;
  case 2: T(P, P)(&gtid, &btid, a[0], a[1]); break;
  case 3: T(P, P, P)(&gtid, &btid, a[0], a[1], a[2]); break;
  case 4: T(P, P, P, P)(&gtid, &btid, a[0], a[1], a[2], a[3]); break;
  case 5: T(P, P, P, P, P)(&gtid, &btid, a[0], a[1], a[2], a[3], a[4]); break;
  case 6: T(P, P, P, P, P, P)(&gtid, &btid, a[0], a[1], a[2], a[3], a[4], a[5]); break;
  case 7: T(P, P, P, P, P, P, P)(&gtid, &btid, a[0], a[1], a[2], a[3], a[4], a[5], a[6]); break;
  case 8: T(P, P, P, P, P, P, P, P)(&gtid, &btid, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]); break;
  case 9: T(P, P, P, P, P, P, P, P, P)(&gtid, &btid, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8]); break;
  case 10: T(P, P, P, P, P, P, P, P, P, P)(&gtid, &btid, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9]); break;
  case 11: T(P, P, P, P, P, P, P, P, P, P, P)(&gtid, &btid, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10]); break;
  case 12: T(P, P, P, P, P, P, P, P, P, P, P, P)(&gtid, &btid, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11]); break;
  case 13: T(P, P, P, P, P, P, P, P, P, P, P, P, P)(&gtid, &btid, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12]); break;
  case 14: T(P, P, P, P, P, P, P, P, P, P, P, P, P, P)(&gtid, &btid, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13]); break;
  case 15: T(P, P, P, P, P, P, P, P, P, P, P, P, P, P, P)(&gtid, &btid, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13], a[14]); break;
  case 16: T(P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P)(&gtid, &btid, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15]); break;
#undef T
  }
}

/* Static worksharing on one thread: the bounds stay the whole range. */
#define STATIC_INIT(name, T, ST)                                                          \
  void name(ident_t *loc, int32_t gtid, int32_t sched, int32_t *plast, T *plower,        \
            T *pupper, ST *pstride, ST incr, ST chunk) {                                  \
    (void)loc; (void)gtid; (void)sched; (void)incr; (void)chunk;                          \
    *plast = 1;                                                                           \
    *pstride = (ST)(*pupper - *plower) + 1;                                               \
  }
STATIC_INIT(__kmpc_for_static_init_4, int32_t, int32_t)
STATIC_INIT(__kmpc_for_static_init_4u, uint32_t, int32_t)
STATIC_INIT(__kmpc_for_static_init_8, int64_t, int64_t)
STATIC_INIT(__kmpc_for_static_init_8u, uint64_t, int64_t)

void __kmpc_for_static_fini(ident_t *loc, int32_t gtid) { (void)loc; (void)gtid; }
void __kmpc_barrier(ident_t *loc, int32_t gtid) { (void)loc; (void)gtid; }
int32_t __kmpc_global_thread_num(ident_t *loc) { (void)loc; return 0; }
void __kmpc_push_num_threads(ident_t *loc, int32_t gtid, int32_t n) { (void)loc; (void)gtid; (void)n; }
int omp_get_thread_num(void) { return 0; }
int omp_get_num_threads(void) { return 1; }
int omp_get_max_threads(void) { return 1; }
"""


def write_source(directory: Path) -> Path:
    """Write ``omp_serial.c`` into ``directory``; returns its path."""
    path = Path(directory) / "omp_serial.c"
    path.write_text(SOURCE)
    return path
