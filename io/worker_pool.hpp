#pragma once
// Threads for the heavy steps — validating and cutting a dropped file,
// assembling a manifest, hashing, sorting results, publishing an outbox,
// walking the state directory — so the event loop never waits on them.
//
// run(fn) runs `fn` on a worker and resumes the awaiting coroutine on its
// own executor (the loop): co_spawn's completion goes through the awaiting
// handler's associated executor (tests/jobs/worker_pool_test.cpp checks it).
// The rule that makes this safe: `fn` touches files and memory it owns, never
// the database (store::database throws if used off its thread) and never
// the loop's objects.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstddef>
#include <type_traits>
#include <utility>

namespace batchd::io {

class worker_pool {
 public:
  explicit worker_pool(std::size_t threads) : pool_(threads) {}
  ~worker_pool() { pool_.join(); }
  worker_pool(const worker_pool&) = delete;
  worker_pool& operator=(const worker_pool&) = delete;

  // `fn`'s result, or its exception rethrown in the caller. Pass a named
  // function object (an lvalue): GCC 12 mishandles a temporary with a
  // destructor inside a co_await expression (it was destroyed twice here).
  template <class F>
  auto run(const F& fn) -> boost::asio::awaitable<std::invoke_result_t<const F&>> {
    using R = std::invoke_result_t<const F&>;
    return boost::asio::co_spawn(
        pool_, [fn]() -> boost::asio::awaitable<R> { co_return fn(); }, boost::asio::use_awaitable);
  }

 private:
  boost::asio::thread_pool pool_;
};

}  // namespace batchd::io
