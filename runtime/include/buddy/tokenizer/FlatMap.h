// A small open-addressing hash map from uint64 keys to uint64 values, used
// for the tokenizers' merge tables (a pair of token ids packed in 64 bits ->
// merge result). Much faster than std::unordered_map for these lookups.
#ifndef BUDDY_TOKENIZER_FLATMAP_H
#define BUDDY_TOKENIZER_FLATMAP_H

#include <cstddef>
#include <cstdint>
#include <vector>

namespace buddy {

class FlatMap64 {
public:
  static constexpr uint64_t kEmpty = ~uint64_t(0); // not a valid key

  void reserve(size_t n) {
    size_t cap = 16;
    while (cap < n * 2)
      cap <<= 1;
    if (cap > slots_.size())
      rehash(cap);
  }
  /// Inserts unless present; returns false if the key was already there.
  bool insert(uint64_t key, uint64_t value) {
    if ((size_ + 1) * 2 > slots_.size())
      rehash(slots_.empty() ? 16 : slots_.size() * 2);
    Slot &sl = slots_[slot(key)];
    if (sl.key == key)
      return false;
    sl.key = key;
    sl.value = value;
    ++size_;
    return true;
  }
  const uint64_t *find(uint64_t key) const {
    if (slots_.empty())
      return nullptr;
    const Slot &sl = slots_[slot(key)];
    return sl.key == key ? &sl.value : nullptr;
  }
  size_t size() const { return size_; }

private:
  struct Slot {
    uint64_t key;
    uint64_t value;
  };
  std::vector<Slot> slots_; // key and value side by side: one cache line per probe
  size_t size_ = 0;

  static uint64_t mix(uint64_t x) { // splitmix64 finalizer
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
  }
  size_t slot(uint64_t key) const {
    size_t mask = slots_.size() - 1;
    size_t i = static_cast<size_t>(mix(key)) & mask;
    while (slots_[i].key != kEmpty && slots_[i].key != key)
      i = (i + 1) & mask;
    return i;
  }
  void rehash(size_t cap) {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(cap, Slot{kEmpty, 0});
    size_ = 0;
    for (const Slot &sl : old)
      if (sl.key != kEmpty)
        insert(sl.key, sl.value);
  }
};

inline uint64_t packPair(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}

} // namespace buddy

#endif // BUDDY_TOKENIZER_FLATMAP_H
