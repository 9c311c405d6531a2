// The worker pool: work runs on a worker, the awaiting coroutine resumes on
// the loop's thread, exceptions come back; and the database refuses to be
// used from any thread but its own (the hazard behind the earlier hang).
#include "io/worker_pool.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <stdexcept>
#include <thread>

#include "store/database.hpp"
#include "tests/support/job_fixture.hpp"
#include "tests/support/run_coro.hpp"

namespace batchd::io {
namespace {

TEST(worker_pool, work_runs_on_a_worker_and_the_caller_resumes_on_its_own_thread) {
  worker_pool pool(2);
  const auto loop_thread = std::this_thread::get_id();
  std::thread::id worked_on, resumed_on;
  batchd::testing::run_coro([&](auto) -> boost::asio::awaitable<void> {
    const int v = co_await pool.run([&] {
      worked_on = std::this_thread::get_id();
      return 42;
    });
    resumed_on = std::this_thread::get_id();
    EXPECT_EQ(v, 42);
    co_await pool.run([] {});  // void works too
    EXPECT_EQ(std::this_thread::get_id(), loop_thread);
  });
  EXPECT_NE(worked_on, loop_thread) << "the heavy work left the loop";
  EXPECT_EQ(resumed_on, loop_thread) << "and the coroutine came back to it";
}

TEST(worker_pool, an_exception_in_the_work_is_rethrown_in_the_caller) {
  worker_pool pool(1);
  bool caught = false;
  batchd::testing::run_coro([&](auto) -> boost::asio::awaitable<void> {
    try {
      co_await pool.run([]() -> int { throw std::runtime_error("No space left on device"); });
    } catch (const std::runtime_error& e) {
      caught = std::string(e.what()) == "No space left on device";
    }
  });
  EXPECT_TRUE(caught);
}

// The case behind the earlier crash (and, we think, the earlier hang): a
// function object with captures that own memory, handed to the pool inside
// a co_await expression, then dropped after the trip.
TEST(worker_pool, owned_captures_survive_the_trip_many_times) {
  worker_pool pool(2);
  std::size_t total = 0;
  batchd::testing::run_coro([&](auto) -> boost::asio::awaitable<void> {
    for (int i = 0; i < 2000; ++i) {
      const auto work = [path = std::filesystem::path("/state/jobs") / std::to_string(i),
                         text = std::string(100, 'x')] { return path.string().size() + text.size(); };
      total += co_await pool.run(work);
    }
  });
  std::size_t expected = 0;
  for (int i = 0; i < 2000; ++i) expected += std::string("/state/jobs/").size() + std::to_string(i).size() + 100;
  EXPECT_EQ(total, expected);
}

class database_threads : public jobs::testing::job_fixture {
 protected:
  database_threads() : job_fixture("database-threads") {}
};

TEST_F(database_threads, a_call_from_a_worker_throws_instead_of_racing_the_loop) {
  db->insert_job("mine", "requests", "/x.jsonl", 1);
  worker_pool pool(1);
  std::string what;
  batchd::testing::run_coro([&](auto) -> boost::asio::awaitable<void> {
    try {
      co_await pool.run([&] { return db->job_by_name("mine"); });
    } catch (const std::logic_error& e) {
      what = e.what();
    }
    EXPECT_TRUE(db->job_by_name("mine")) << "on its own thread it still works";
  });
  EXPECT_NE(what.find("other than the one that opened it"), std::string::npos) << what;
}

}  // namespace
}  // namespace batchd::io
