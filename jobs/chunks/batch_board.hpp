#pragma once
// With many batches in flight, one list call refreshes them all: polls then
// read the board instead of asking for each batch. Below the threshold a
// poll asks for its batch alone.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <cstddef>
#include <memory>
#include <string>

#include "io/clock.hpp"
#include "openai/types.hpp"

namespace batchd::openai {
class client;
}

namespace batchd::jobs {

class batch_board {
 public:
  // `refresh_from`: batches in flight from which the list is used;
  // `fresh_s`: how old a listed state may be and still serve.
  batch_board(boost::asio::any_io_executor ex, openai::client& api, const io::clock& clk);
  void set_policy(std::size_t refresh_from, double fresh_s);

  // Registers a batch being polled, for as long as the returned watch lives
  // (safe to outlive the board: coroutine frames may be destroyed after it).
  class watch {
   public:
    watch(std::shared_ptr<struct board_state> st, std::string id);
    ~watch();
    watch(const watch&) = delete;
    watch& operator=(const watch&) = delete;

   private:
    std::shared_ptr<struct board_state> st_;
    std::string id_;
  };
  watch track(const std::string& batch_id, double created_at);

  // The batch's state: from the board when fresh, else asked for. Throws openai::api_error.
  boost::asio::awaitable<openai::batch> current(std::string batch_id);

 private:
  std::shared_ptr<struct board_state> st_;
};

}  // namespace batchd::jobs
