#pragma once
// Runs a coroutine to completion on a fresh io_context and returns its
// result, rethrowing its exception.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <functional>

namespace batchd::testing {

template <class F>
auto run_coro(F&& make) {
  boost::asio::io_context ioc;
  auto fut = boost::asio::co_spawn(ioc, make(ioc.get_executor()), boost::asio::use_future);
  ioc.run();
  return fut.get();
}

}  // namespace batchd::testing
