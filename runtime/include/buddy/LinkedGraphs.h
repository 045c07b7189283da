// buddy/LinkedGraphs.h - compiled graphs statically linked into an executable.
//
// buddy_add_model(NAME <lib> ... GRAPHS <entry>...) (cmake/BuddyAddModel.cmake)
// links the objects of several compiled graphs into one static library, each
// exporting its own `void _buddy_<entry>(void **args)` (docs/interfaces.md),
// and generates the table
//
//     const BuddyLinkedGraph buddy_graphs_<lib>[] = {
//         {"<entry>", _buddy_<entry>}, ..., {0, 0}};
//
// so a program finds a graph by its entry name without dlopen. C and C++.
#ifndef BUDDY_LINKEDGRAPHS_H
#define BUDDY_LINKEDGRAPHS_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct BuddyLinkedGraph {
  const char *name;          // entry name (the symbol is _buddy_<name>)
  void (*fn)(void **args);   // the packed entry point
} BuddyLinkedGraph;

#ifdef __cplusplus
} // extern "C"

#include <string>

namespace buddy {

/// The entry `name` of a null-terminated table, or nullptr.
inline void (*findLinkedGraph(const BuddyLinkedGraph *table, const std::string &name))(void **) {
  for (const BuddyLinkedGraph *g = table; g && g->name; ++g)
    if (name == g->name)
      return g->fn;
  return nullptr;
}

/// Comma-separated entry names of a table (for error messages).
inline std::string linkedGraphNames(const BuddyLinkedGraph *table) {
  std::string out;
  for (const BuddyLinkedGraph *g = table; g && g->name; ++g)
    out += (out.empty() ? "" : ", ") + std::string(g->name);
  return out.empty() ? "none" : out;
}

} // namespace buddy
#endif

#endif // BUDDY_LINKEDGRAPHS_H
