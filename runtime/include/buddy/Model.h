// buddy/Model.h - load a compiled model library and call its functions.
//
// The ABI (docs/interfaces.md): a compiled function `forward(<params...>,
// <inputs...>, <outputs...>)` on memrefs is exported as
//
//     void _buddy_forward(void **args);
//
// where args[i] points to the StridedMemRefType descriptor of argument i.
// Outputs are allocated by the caller (64-byte aligned) and written by the
// callee, so results never point into the library and outlive it.
#ifndef BUDDY_MODEL_H
#define BUDDY_MODEL_H

#include "buddy/MemRef.h"
#include "buddy/WeightFile.h"

#include <dlfcn.h>

namespace buddy {

/// The library cannot be loaded or lacks a symbol; carries dlerror()'s text.
class LibraryError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

using PackedFunction = void (*)(void **);

/// Argument list of one compiled function: every argument's spec, and how
/// many of them (at the end) are outputs.
struct Signature {
  std::vector<TensorSpec> args;
  size_t numOutputs = 0;
  size_t numInputs() const { return args.size() - numOutputs; }
};

/// Check `args` against `sig` and call `fn`. Outputs must be writable.
inline void callPacked(PackedFunction fn, const Signature &sig,
                       const std::vector<const MemRef *> &args,
                       const std::string &fnName = "function") {
  if (sig.numOutputs > sig.args.size())
    throw std::invalid_argument("buddy: signature of " + fnName + " has more outputs than arguments");
  if (args.size() != sig.args.size())
    throw ArgumentError(ArgumentError::Kind::Count,
                        fnName + " takes " + std::to_string(sig.args.size()) + " arguments (" +
                            std::to_string(sig.numInputs()) + " inputs, " +
                            std::to_string(sig.numOutputs) + " outputs), got " +
                            std::to_string(args.size()));
  std::vector<MemRefDescriptor> descs;
  descs.reserve(args.size());
  std::vector<void *> ptrs;
  ptrs.reserve(args.size());
  for (size_t i = 0; i < args.size(); ++i) {
    if (!args[i])
      throw ArgumentError(ArgumentError::Kind::Count,
                          fnName + ": argument " + std::to_string(i) + " is null");
    args[i]->checkMatches(sig.args[i], i, /*isOutput=*/i >= sig.numInputs());
    descs.push_back(args[i]->descriptor());
    ptrs.push_back(descs.back().data());
  }
  fn(ptrs.data());
}

/// A dlopen'ed compiled model. Copies share the handle; dlclose runs when the
/// last copy goes.
class Library {
public:
  explicit Library(const std::string &path) : path_(path) {
    dlerror();
    void *h = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!h) {
      const char *err = dlerror();
      throw LibraryError("buddy: cannot load compiled model '" + path +
                         "': " + (err ? err : "unknown dlopen error"));
    }
    handle_ = std::shared_ptr<void>(h, [](void *p) { ::dlclose(p); });
  }

  const std::string &path() const { return path_; }

  bool has(const std::string &fn) const {
    return ::dlsym(handle_.get(), ("_buddy_" + fn).c_str()) != nullptr;
  }

  /// `_buddy_<fn>`, or LibraryError naming the symbol and dlerror()'s text.
  PackedFunction function(const std::string &fn) const {
    std::string sym = "_buddy_" + fn;
    dlerror();
    void *p = ::dlsym(handle_.get(), sym.c_str());
    const char *err = dlerror();
    if (!p)
      throw LibraryError("buddy: compiled model '" + path_ + "' has no function '" + sym +
                         "'" + (err ? std::string(": ") + err : std::string()));
    return reinterpret_cast<PackedFunction>(p);
  }

  /// Check and call `_buddy_<fn>(args)`.
  void call(const std::string &fn, const Signature &sig,
            const std::vector<const MemRef *> &args) const {
    callPacked(function(fn), sig, args, "_buddy_" + fn);
  }

  /// Call with the outputs allocated here (64-byte aligned, zero-filled).
  std::vector<MemRef> run(const std::string &fn, const Signature &sig,
                          const std::vector<MemRef> &inputs) const {
    std::vector<MemRef> outs;
    for (size_t i = sig.numInputs(); i < sig.args.size(); ++i)
      outs.push_back(MemRef::allocate(sig.args[i].dtype, sig.args[i].shape));
    std::vector<const MemRef *> args;
    for (const MemRef &m : inputs)
      args.push_back(&m);
    for (const MemRef &m : outs)
      args.push_back(&m);
    call(fn, sig, args);
    return outs;
  }

  const std::shared_ptr<void> &handle() const { return handle_; }

private:
  std::string path_;
  std::shared_ptr<void> handle_;
};

/// A compiled function with its parameters bound from a weight file: callers
/// pass only the user inputs, in order.
class Model {
public:
  /// `paramNames` are the weight-file tensors that fill the first
  /// `paramNames.size()` arguments of `sig` (mapped, not copied).
  Model(const Library &lib, const std::string &fn, Signature sig, const WeightFile &weights,
        const std::vector<std::string> &paramNames)
      : Model(lib.function(fn), "_buddy_" + fn, std::move(sig), weights, paramNames,
              lib.handle()) {}

  /// The same over any packed function; `keepAlive` holds what owns its code.
  Model(PackedFunction packed, std::string name, Signature sig, const WeightFile &weights,
        const std::vector<std::string> &paramNames, std::shared_ptr<void> keepAlive = nullptr)
      : keepAlive_(std::move(keepAlive)), name_(std::move(name)), sig_(std::move(sig)),
        packed_(packed) {
    if (paramNames.size() > sig_.numInputs())
      throw std::invalid_argument("buddy: " + name_ + " has " + std::to_string(sig_.numInputs()) +
                                  " inputs, cannot bind " + std::to_string(paramNames.size()) +
                                  " parameters");
    for (size_t i = 0; i < paramNames.size(); ++i) {
      if (!weights.contains(paramNames[i]))
        throw std::invalid_argument("buddy: " + name_ + ": parameter '" + paramNames[i] +
                                    "' is missing from " + weights.path());
      MemRef m = weights.tensor(paramNames[i]);
      m.checkMatches(sig_.args[i], i);
      params_.push_back(std::move(m));
    }
  }

  /// Run on user inputs; returns freshly allocated outputs.
  std::vector<MemRef> operator()(const std::vector<MemRef> &inputs) const {
    if (inputs.size() != sig_.numInputs() - params_.size())
      throw ArgumentError(ArgumentError::Kind::Count,
                          name_ + " takes " + std::to_string(sig_.numInputs() - params_.size()) +
                              " inputs after its " + std::to_string(params_.size()) +
                              " parameters, got " + std::to_string(inputs.size()));
    std::vector<MemRef> outs;
    for (size_t i = sig_.numInputs(); i < sig_.args.size(); ++i)
      outs.push_back(MemRef::allocate(sig_.args[i].dtype, sig_.args[i].shape));
    std::vector<const MemRef *> args;
    for (const MemRef &m : params_)
      args.push_back(&m);
    for (const MemRef &m : inputs)
      args.push_back(&m);
    for (const MemRef &m : outs)
      args.push_back(&m);
    callPacked(packed_, sig_, args, name_);
    return outs;
  }

  const Signature &signature() const { return sig_; }
  size_t numParams() const { return params_.size(); }

private:
  std::shared_ptr<void> keepAlive_;
  std::string name_;
  Signature sig_;
  PackedFunction packed_;
  std::vector<MemRef> params_;
};

} // namespace buddy

#endif // BUDDY_MODEL_H
