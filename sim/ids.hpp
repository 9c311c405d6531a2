#pragma once
// Object ids in the service's shapes (file-…, batch_…, batch_req_…), drawn
// from the seeded generator so a run with the same --seed repeats them.
#include <cstdint>
#include <random>
#include <string>

namespace batchd::sim {

class id_source {
 public:
  explicit id_source(std::uint64_t seed) : rng_(seed ^ 0x5eedULL) {}
  std::string make(const std::string& prefix, int length = 24) {
    static constexpr char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    std::string id = prefix;
    for (int i = 0; i < length; ++i) id += alphabet[rng_() % 62];
    return id;
  }
  std::uint64_t next() { return rng_(); }

 private:
  std::mt19937_64 rng_;
};

}  // namespace batchd::sim
