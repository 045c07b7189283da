//===- Pipelines.h - Buddy named pass pipelines -----------------*- C++ -*-===//
#ifndef BUDDY_PIPELINES_H
#define BUDDY_PIPELINES_H

namespace buddy {

/// Registers `--buddy-cpu-pipeline` (see midend/README.md) with buddy-opt.
void registerBuddyPipelines();

} // namespace buddy

#endif // BUDDY_PIPELINES_H
