#pragma once
// A batch_registry on a scratch directory, driven by explicit times: no
// clock, no sleeps.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "sim/batches.hpp"
#include "sim/faults.hpp"
#include "sim/file_store.hpp"
#include "sim/ids.hpp"
#include "sim/stats.hpp"

namespace batchd::sim {

inline std::filesystem::path scratch_dir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() /
             ("batchd-sim-test-" + name + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

inline nlohmann::json chat_line(const std::string& id, const std::string& model = "gpt-4o-mini") {
  return {{"custom_id", id},
          {"method", "POST"},
          {"url", "/v1/chat/completions"},
          {"body", {{"model", model}, {"messages", {{{"role", "user"}, {"content", "q " + id}}}}}}};
}

inline void write_lines(const std::filesystem::path& p, const std::vector<nlohmann::json>& lines) {
  std::ofstream out(p, std::ios::binary);
  for (const auto& l : lines) out << l.dump() << "\n";
}

inline std::vector<nlohmann::json> read_lines(const std::filesystem::path& p) {
  std::vector<nlohmann::json> out;
  std::ifstream in(p);
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

class sim_fixture : public ::testing::Test {
 protected:
  static constexpr double t0 = 1'700'000'000;
  std::filesystem::path dir = scratch_dir(::testing::UnitTest::GetInstance()->current_test_info()->name());
  file_store files{dir / "files"};
  fault_engine faults{42};
  id_source ids{42};
  sim_stats stats;
  lifecycle_timing timing{10, 30, 1, 10, 20};
  batch_registry batches{{files, faults, ids, stats, timing}};

  ~sim_fixture() override { std::filesystem::remove_all(dir); }

  std::string upload(const std::vector<nlohmann::json>& lines) {
    auto tmp = files.temp_path();
    write_lines(tmp, lines);
    return files.add(ids.make("file-"), "in.jsonl", "batch", tmp, t0, std::nullopt, 0).id;
  }
  std::vector<nlohmann::json> content(const std::optional<std::string>& id) {
    if (!id) return {};
    return read_lines(files.find(*id)->path);
  }
};

}  // namespace batchd::sim
