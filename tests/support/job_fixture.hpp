#pragma once
// What the job tests share: a spool and state directory of their own, a
// real SQLite store with the real migrations, and the one mover of jobs.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "io/clock.hpp"
#include "store/sqlite/sqlite_database.hpp"
#include "jobs/lifecycle/job_transitions.hpp"
#include "jobs/core/spool.hpp"

namespace batchd::jobs::testing {

// One chat request line with this custom_id.
inline std::string chat(const std::string& id) {
  return nlohmann::json{{"custom_id", id},
                        {"method", "POST"},
                        {"url", "/v1/chat/completions"},
                        {"body", {{"model", "gpt-4o-mini"}, {"messages", {{{"role", "user"}, {"content", id}}}}}}}
      .dump();
}

inline std::vector<nlohmann::json> lines_of(const std::filesystem::path& p) {
  std::vector<nlohmann::json> out;
  std::ifstream in(p);
  for (std::string l; std::getline(in, l);)
    if (!l.empty()) out.push_back(nlohmann::json::parse(l));
  return out;
}

class job_fixture : public ::testing::Test {
 protected:
  explicit job_fixture(const std::string& name)
      : root(std::filesystem::temp_directory_path() / ("batchd-" + name + "-" + std::to_string(::getpid()))),
        dirs(spool::under(root / "spool", root / "state")) {}
  void SetUp() override {
    std::filesystem::remove_all(root);
    dirs.create_all();
    db = std::make_unique<store::sqlite_database>(dirs.state / "batchd.db");
    moves = std::make_unique<job_transitions>(*db, dirs, clk, std::make_shared<ledger::pricing_table>());
  }
  void TearDown() override { std::filesystem::remove_all(root); }

  std::filesystem::path root;
  spool dirs;
  std::unique_ptr<store::sqlite_database> db;  // the real backend; jobs/ sees it as store::database
  io::clock clk;
  std::unique_ptr<job_transitions> moves;
};

}  // namespace batchd::jobs::testing
