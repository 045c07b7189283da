// buddy-llama-run: LLaMA text generation with Buddy-compiled prefill/decode graphs.
//
// The graphs are statically linked (buddy_add_model(... GRAPHS ...), see CMakeLists.txt):
// BUDDY_LLAMA_GRAPHS names their generated table (buddy/LinkedGraphs.h). Reads the spec
// written by import_llama.py (weights, tokenizer, graphs' entry names with their argument
// lists), memory-maps the shared weight file (buddy::WeightFile), tokenizes with Buddy's C++
// tokenizer (buddy::Text over the GGUF tokenizer), runs prefill then decode with ONE pair of
// KV-cache buffers (prefill writes them as out-params, decode updates the new rows in
// place; a step at position p runs the decode graph of the smallest span > p), streams the text and prints prompt tok/s, decode tok/s, time to first token and
// peak RSS.
#include "buddy/LinkedGraphs.h"
#include "buddy/MemRef.h"
#include "buddy/Model.h"
#include "buddy/Text.h"
#include "buddy/WeightFile.h"
#include "buddy/tokenizer/Load.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <numeric>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#ifndef BUDDY_LLAMA_SPEC
#define BUDDY_LLAMA_SPEC ""
#endif
#ifndef BUDDY_LLAMA_GRAPHS
#error "BUDDY_LLAMA_GRAPHS must name the buddy_add_model graph table (buddy_graphs_<model>)"
#endif

extern "C" const BuddyLinkedGraph BUDDY_LLAMA_GRAPHS[];

namespace {

using Clock = std::chrono::steady_clock;

struct Graph {
  std::string kind, entry;
  int64_t span = 0;  // decode: the cache positions it attends to (0 in the spec: all)
  buddy::Signature sig;
  std::vector<std::string> roles;
};

struct Spec {
  std::string weights, tokenizer;
  int64_t layers = 0, kvHeads = 0, maxLen = 0, headDim = 0, vocab = 0;
  std::vector<Graph> graphs;
};

[[noreturn]] void fail(const std::string &msg) { throw std::runtime_error(msg); }

Spec readSpec(const std::string &path) {
  std::ifstream in(path);
  if (!in)
    fail("cannot open model spec '" + path + "' (build it with import_llama.py)");
  Spec s;
  std::string line;
  int lineNo = 0;
  while (std::getline(in, line)) {
    ++lineNo;
    std::istringstream ls(line);
    std::string key;
    if (!(ls >> key))
      continue;
    auto bad = [&](const std::string &why) {
      fail(path + ":" + std::to_string(lineNo) + ": " + why + ": '" + line + "'");
    };
    if (key == "weights") {
      ls >> s.weights;
    } else if (key == "tokenizer") {
      ls >> s.tokenizer;
    } else if (key == "model") {
      if (!(ls >> s.layers >> s.kvHeads >> s.maxLen >> s.headDim >> s.vocab))
        bad("expected 'model L KVH max_len D V'");
    } else if (key == "graph") {
      Graph g;
      size_t n = 0;
      if (!(ls >> g.kind >> g.entry >> n))
        bad("expected 'graph kind entry n [span]'");
      if (!(ls >> g.span))
        g.span = 0;
      else if (g.kind != "decode" || g.span < 1)
        bad("a span is a positive length of a decode graph");
      s.graphs.push_back(g);
    } else if (key == "arg") {
      if (s.graphs.empty())
        bad("arg before graph");
      std::string role, name, dt;
      size_t rank = 0;
      if (!(ls >> role >> name >> dt >> rank))
        bad("expected 'arg role name dtype rank dims...'");
      auto dtype = buddy::parseDType(dt);
      if (!dtype)
        bad("unknown dtype " + dt);
      buddy::Shape shape(rank);
      for (auto &d : shape)
        if (!(ls >> d))
          bad("missing dimension");
      Graph &g = s.graphs.back();
      g.sig.args.push_back(buddy::TensorSpec{name, *dtype, shape});
      g.roles.push_back(role);
      if (role == "output")
        ++g.sig.numOutputs;
    } else {
      bad("unknown key");
    }
  }
  if (s.weights.empty() || s.layers <= 0 || s.graphs.empty())
    fail(path + ": incomplete spec (weights/model/graph missing)");
  for (Graph &g : s.graphs) {
    if (g.kind == "decode" && g.span == 0)
      g.span = s.maxLen;
    if (g.span > s.maxLen)
      fail(path + ": decode graph '" + g.entry + "' spans " + std::to_string(g.span) +
           " positions, more than the cache's " + std::to_string(s.maxLen));
  }
  return s;
}

/// The statically linked `_buddy_<entry>` of a spec graph.
buddy::PackedFunction linkedGraph(const Graph &g, const std::string &specPath) {
  buddy::PackedFunction fn = buddy::findLinkedGraph(BUDDY_LLAMA_GRAPHS, g.entry);
  if (!fn)
    fail(specPath + ": " + g.kind + " graph '" + g.entry + "' is not linked into this "
         "executable (it has: " + buddy::linkedGraphNames(BUDDY_LLAMA_GRAPHS) +
         "); the spec belongs to another build");
  return fn;
}

/// One compiled graph with its argument MemRefs (params mapped from the weight file).
class Runner {
public:
  Runner(const Graph &g, const buddy::WeightFile &w, const std::string &specPath)
      : fn_(linkedGraph(g, specPath)), graph_(g) {
    for (size_t i = 0; i < g.sig.args.size(); ++i) {
      const auto &spec = g.sig.args[i];
      if (g.roles[i] == "param") {
        if (!w.contains(spec.name))
          fail(g.entry + ": parameter '" + spec.name + "' is not in " + w.path());
        args_.push_back(w.tensor(spec.name));
      } else {
        args_.push_back(buddy::MemRef::allocate(spec.dtype, spec.shape));
      }
      byRole_[g.roles[i]].push_back(i);
      ptrs_.push_back(nullptr);
    }
  }
  /// The argument position of the k-th argument with `role` (resolved once, at
  /// construction: the decode loop asks three times per token).
  size_t index(const std::string &role, size_t k) const {
    auto it = byRole_.find(role);
    if (it == byRole_.end() || k >= it->second.size())
      fail(graph_.entry + ": no " + role + " #" + std::to_string(k));
    return it->second[k];
  }
  buddy::MemRef &arg(size_t i) { return args_[i]; }
  void bind(size_t i, const buddy::MemRef &m) { args_[i] = m; }
  void operator()() {
    for (size_t i = 0; i < args_.size(); ++i)
      ptrs_[i] = &args_[i];
    buddy::callPacked(fn_, graph_.sig, ptrs_, "_buddy_" + graph_.entry);
  }
  const Graph &graph() const { return graph_; }

private:
  buddy::PackedFunction fn_;
  Graph graph_;
  std::vector<buddy::MemRef> args_;
  std::map<std::string, std::vector<size_t>> byRole_;
  std::vector<const buddy::MemRef *> ptrs_;
};

struct Options {
  std::string spec = BUDDY_LLAMA_SPEC, prompt = "The capital of France is", promptIds, expect;
  int maxNew = 64, topK = 0;
  double temperature = 0.0, topP = 1.0;
  uint64_t seed = 0;
  bool chat = false, quiet = false;
};

void usage() {
  std::cout << "usage: buddy-llama-run [--spec FILE] [--prompt TEXT | --prompt-ids 1,2,3] "
               "[--max-new-tokens N] [--temperature T] [--top-k K] [--top-p P] [--seed S] "
               "[--chat] [--expect FILE] [--quiet]\n";
}

Options parseArgs(int argc, char **argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc)
        fail("option " + a + " needs a value");
      return argv[++i];
    };
    auto number = [&](const std::string &v) {
      char *end = nullptr;
      double d = std::strtod(v.c_str(), &end);
      if (v.empty() || *end)
        fail("option " + a + ": '" + v + "' is not a number");
      return d;
    };
    if (a == "--spec") o.spec = value();
    else if (a == "--prompt") o.prompt = value();
    else if (a == "--prompt-ids") o.promptIds = value();
    else if (a == "--max-new-tokens") o.maxNew = static_cast<int>(number(value()));
    else if (a == "--temperature") o.temperature = number(value());
    else if (a == "--top-k") o.topK = static_cast<int>(number(value()));
    else if (a == "--top-p") o.topP = number(value());
    else if (a == "--seed") o.seed = static_cast<uint64_t>(number(value()));
    else if (a == "--chat") o.chat = true;
    else if (a == "--expect") o.expect = value();
    else if (a == "--quiet") o.quiet = true;
    else if (a == "--help" || a == "-h") { usage(); std::exit(0); }
    else fail("unknown option " + a + " (see --help)");
  }
  if (o.maxNew < 1) fail("--max-new-tokens must be >= 1");
  if (o.temperature < 0) fail("--temperature must be >= 0");
  if (o.topK < 0) fail("--top-k must be >= 0");
  if (!(o.topP > 0 && o.topP <= 1)) fail("--top-p must be in (0, 1]");
  return o;
}

std::vector<int32_t> parseIds(const std::string &text) {
  std::vector<int32_t> ids;
  std::string cur;
  for (char c : text + ",") {
    if (c >= '0' && c <= '9') {
      cur += c;
    } else if (!cur.empty()) {
      ids.push_back(std::stoi(cur));
      cur.clear();
    }
  }
  return ids;
}

/// The list after `"key":` in a one-line JSON file written by import_llama.py.
std::vector<int32_t> jsonIds(const std::string &path, const std::string &key) {
  std::ifstream in(path);
  if (!in)
    fail("cannot open " + path);
  std::string s((std::istreambuf_iterator<char>(in)), {});
  size_t k = s.find("\"" + key + "\"");
  size_t open = s.find('[', k), close = s.find(']', open);
  if (k == std::string::npos || open == std::string::npos || close == std::string::npos)
    fail(path + ": no list '" + key + "'");
  return parseIds(s.substr(open + 1, close - open - 1));
}

int32_t pick(const float *logits, int64_t vocab, const Options &o, std::mt19937_64 &rng) {
  if (o.temperature <= 0)
    return static_cast<int32_t>(std::max_element(logits, logits + vocab) - logits);
  std::vector<int32_t> idx(vocab);
  std::iota(idx.begin(), idx.end(), 0);
  std::sort(idx.begin(), idx.end(), [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
  size_t keep = o.topK > 0 ? std::min<size_t>(o.topK, idx.size()) : idx.size();
  std::vector<double> p(keep);
  double mx = logits[idx[0]] / o.temperature, sum = 0;
  for (size_t i = 0; i < keep; ++i)
    sum += p[i] = std::exp(logits[idx[i]] / o.temperature - mx);
  if (o.topP < 1.0) {
    double cum = 0;
    size_t n = 0;
    while (n < keep) {
      cum += p[n++] / sum;
      if (cum >= o.topP)
        break;
    }
    keep = n;
  }
  std::discrete_distribution<size_t> d(p.begin(), p.begin() + static_cast<long>(keep));
  return idx[d(rng)];
}

/// Peak resident set of this process: VmHWM (Linux). Not getrusage's ru_maxrss, which Linux
/// carries across fork + exec, so a runner started by a large process would report its peak.
double peakRssMiB() {
  std::ifstream status("/proc/self/status");
  std::string key;
  double kib = 0;
  while (status >> key) {
    if (key == "VmHWM:" && status >> kib)
      return kib / 1024.0;
    status.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
  }
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

int run(const Options &o) {
  if (o.spec.empty())
    fail("no model spec: pass --spec");
  Spec spec = readSpec(o.spec);
  buddy::WeightFile weights = buddy::WeightFile::open(spec.weights);

  std::unique_ptr<buddy::Tokenizer> tok;
  if (spec.tokenizer != "-")
    tok = buddy::loadTokenizer(spec.tokenizer);
  std::vector<int32_t> prompt;
  if (!o.promptIds.empty()) {
    prompt = parseIds(o.promptIds);
  } else {
    if (!tok)
      fail("this model has no tokenizer: pass --prompt-ids");
    std::string text = o.prompt;
    if (o.chat) {  // ChatML, the template of SmolLM2 / Qwen-style instruct models
      if (tok->encode("<|im_start|>", buddy::EncodeOptions{false, false, true}).size() != 1)
        fail("--chat: the tokenizer has no <|im_start|> token (only ChatML templates are supported)");
      text = "<|im_start|>user\n" + o.prompt + "<|im_end|>\n<|im_start|>assistant\n";
    }
    buddy::EncodeOptions eo{tok->defaultAddBos(), false, o.chat};
    buddy::Text t(text);
    prompt = t.tokenize(*tok, eo);
  }
  if (prompt.empty())
    fail("empty prompt");
  const int64_t n = static_cast<int64_t>(prompt.size());
  if (n > spec.maxLen)
    fail("prompt of " + std::to_string(n) + " tokens is longer than the KV cache (" +
         std::to_string(spec.maxLen) + " positions)");

  // The decode graphs by span (a step at position p runs the smallest span > p), and the
  // smallest compiled prefill bucket that holds the prompt.
  std::vector<const Graph *> decodeGs;
  const Graph *prefillG = nullptr;
  for (const Graph &g : spec.graphs) {
    if (g.kind == "decode")
      decodeGs.push_back(&g);
    else if (g.kind == "prefill" && g.sig.args.size() > 0) {
      int64_t s = 0;
      for (size_t i = 0; i < g.roles.size(); ++i)
        if (g.roles[i] == "input") { s = g.sig.args[i].shape.at(1); break; }
      if (s >= n && (!prefillG || s < prefillG->sig.args[std::find(prefillG->roles.begin(),
                                     prefillG->roles.end(), "input") - prefillG->roles.begin()]
                                     .shape.at(1)))
        prefillG = &g;
    }
  }
  std::sort(decodeGs.begin(), decodeGs.end(),
            [](const Graph *a, const Graph *b) { return a->span < b->span; });
  if (decodeGs.empty() || decodeGs.back()->span != spec.maxLen)
    fail(o.spec + ": no decode graph over the whole cache (" + std::to_string(spec.maxLen) +
         " positions)");
  if (!prefillG)
    fail("prompt of " + std::to_string(n) + " tokens is longer than every compiled prefill "
         "bucket (rebuild with a larger --prefill)");

  Runner prefill(*prefillG, weights, o.spec);
  std::vector<std::unique_ptr<Runner>> decodes;
  for (const Graph *g : decodeGs)
    decodes.push_back(std::make_unique<Runner>(*g, weights, o.spec));
  std::vector<Runner *> all{&prefill};
  for (auto &d : decodes)
    all.push_back(d.get());
  for (Runner *r : all) {  // output #0: the logits
    const buddy::TensorSpec &logits = r->graph().sig.args[r->index("output", 0)];
    if (logits.dtype != buddy::DType::F32)
      fail(r->graph().entry + ": logits '" + logits.name +
           "' are not f32; buddy-llama-run samples f32 logits only");
  }
  // One pair of caches for all graphs, in the decode graphs' dtype (f32, or bf16 for a bf16
  // model).
  Runner &full = *decodes.back();
  buddy::DType cacheType = full.graph().sig.args[full.index("input", 2)].dtype;
  buddy::Shape cacheShape{spec.layers, spec.kvHeads, spec.maxLen, spec.headDim};
  buddy::MemRef kCache = buddy::MemRef::allocate(cacheType, cacheShape);
  buddy::MemRef vCache = buddy::MemRef::allocate(cacheType, cacheShape);
  prefill.bind(prefill.index("output", 1), kCache);
  prefill.bind(prefill.index("output", 2), vCache);
  for (auto &d : decodes) {
    d->bind(d->index("input", 2), kCache);
    d->bind(d->index("input", 3), vCache);
  }
  auto decodeAt = [&](int64_t pos) -> Runner & {
    for (auto &d : decodes)
      if (pos < d->graph().span)
        return *d;
    fail("decode position " + std::to_string(pos) + " is outside the KV cache");
  };

  std::mt19937_64 rng(o.seed);
  std::unique_ptr<buddy::StreamDecoder> stream;
  if (tok)
    stream = std::make_unique<buddy::StreamDecoder>(*tok);
  if (tok && !o.chat && o.promptIds.empty())
    std::cout << o.prompt << std::flush;

  auto t0 = Clock::now();
  auto *tokens = static_cast<int64_t *>(prefill.arg(prefill.index("input", 0)).data());
  int64_t s = prefill.arg(prefill.index("input", 0)).shape()[1];
  std::fill(tokens, tokens + s, 0);
  std::copy(prompt.begin(), prompt.end(), tokens);
  *static_cast<int64_t *>(prefill.arg(prefill.index("input", 1)).data()) = n - 1;
  prefill();
  const float *logits = static_cast<const float *>(prefill.arg(prefill.index("output", 0)).data());
  std::vector<int32_t> out;
  int32_t next = pick(logits, spec.vocab, o, rng);
  auto tFirst = Clock::now();
  std::string stop = "length";
  int64_t pos = n;
  while (true) {
    out.push_back(next);
    if (stream && !o.quiet)
      std::cout << stream->push(next) << std::flush;
    if (tok && next == tok->eosId() && o.expect.empty()) { stop = "eos"; break; }
    if (static_cast<int>(out.size()) >= o.maxNew) break;
    if (pos >= spec.maxLen) { stop = "cache_full"; break; }
    Runner &d = decodeAt(pos);
    *static_cast<int64_t *>(d.arg(d.index("input", 0)).data()) = next;
    *static_cast<int64_t *>(d.arg(d.index("input", 1)).data()) = pos++;
    d();
    next = pick(static_cast<const float *>(d.arg(d.index("output", 0)).data()), spec.vocab, o, rng);
  }
  auto tEnd = Clock::now();
  std::cout << "\n";
  double ttft = std::chrono::duration<double>(tFirst - t0).count();
  double dec = std::chrono::duration<double>(tEnd - tFirst).count();
  size_t nDec = out.size() - 1;
  std::ostringstream ids, spans;
  for (size_t i = 0; i < decodes.size(); ++i)
    spans << (i ? "," : "") << decodes[i]->graph().span;
  for (size_t i = 0; i < out.size(); ++i)
    ids << (i ? "," : "") << out[i];
  std::cerr << "tokens: " << ids.str() << "\n";
  std::fprintf(stderr,
               "prompt: %lld tokens, %.1f tok/s | time to first token: %.1f ms | decode: %zu "
               "tokens, %.1f tok/s | stop: %s | peak RSS: %.0f MiB | decode spans: %s | engine: buddy C++\n",
               static_cast<long long>(n), n / ttft, ttft * 1000, nDec,
               nDec && dec > 0 ? nDec / dec : NAN, stop.c_str(), peakRssMiB(), spans.str().c_str());
  if (!o.expect.empty()) {
    std::vector<int32_t> want = jsonIds(o.expect, "tokens");
    if (want != out) {
      std::cerr << "MISMATCH: expected tokens from " << o.expect << "\n";
      return 1;
    }
    std::cerr << "tokens match " << o.expect << "\n";
  }
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  try {
    return run(parseArgs(argc, argv));
  } catch (const std::exception &e) {
    std::cerr << "buddy-llama-run: error: " << e.what() << "\n";
    return 1;
  }
}
