#include "jobs/chunks/batch_board.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <map>

#include "openai/client.hpp"
#include "openai/error.hpp"

namespace batchd::jobs {
namespace asio = boost::asio;

struct board_state {
  board_state(asio::any_io_executor e, openai::client& a, const io::clock& c) : ex(std::move(e)), api(a), clk(c) {}
  asio::any_io_executor ex;
  openai::client& api;
  const io::clock& clk;
  std::size_t refresh_from = 5;
  double fresh_s = 30;
  std::map<std::string, double> in_flight;                        // batch id → created_at
  std::map<std::string, std::pair<double, openai::batch>> listed;  // batch id → (when listed, what)
  bool refreshing = false;
};

namespace {

// Lists batches while enough are in flight; holds the state alive while it runs.
asio::awaitable<void> refresh(std::shared_ptr<board_state> st) {
  st->refreshing = true;
  asio::steady_timer pause(st->ex);
  while (st->in_flight.size() >= st->refresh_from) {
    double oldest = st->clk.now();
    for (const auto& [_, created] : st->in_flight) oldest = std::min(oldest, created);
    try {
      const double listed_at = st->clk.now();
      // Newest first: stop once past the oldest batch still in flight.
      for (auto& b : co_await st->api.list_batches([&](const openai::batch& b) { return b.created_at >= oldest - 60; }))
        if (st->in_flight.count(b.id)) st->listed[b.id] = {listed_at, std::move(b)};
    } catch (const openai::api_error& e) {
      spdlog::info("refreshing batches by list: {}; polling one by one meanwhile", e.what());
    }
    pause.expires_after(st->clk.real(st->fresh_s / 2));
    co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  st->listed.clear();
  st->refreshing = false;
}

}  // namespace

batch_board::batch_board(asio::any_io_executor ex, openai::client& api, const io::clock& clk)
    : st_(std::make_shared<board_state>(std::move(ex), api, clk)) {}

void batch_board::set_policy(std::size_t refresh_from, double fresh_s) {
  st_->refresh_from = refresh_from;
  st_->fresh_s = fresh_s;
}

batch_board::watch::watch(std::shared_ptr<board_state> st, std::string id) : st_(std::move(st)), id_(std::move(id)) {}
batch_board::watch::~watch() {
  st_->in_flight.erase(id_);
  st_->listed.erase(id_);
}

batch_board::watch batch_board::track(const std::string& batch_id, double created_at) {
  st_->in_flight[batch_id] = created_at;
  return watch(st_, batch_id);
}

asio::awaitable<openai::batch> batch_board::current(std::string batch_id) {
  if (st_->in_flight.size() >= st_->refresh_from) {
    if (!st_->refreshing) asio::co_spawn(st_->ex, refresh(st_), asio::detached);
    // Fresh enough: listed since this batch's last poll delay began.
    if (auto it = st_->listed.find(batch_id); it != st_->listed.end() && st_->clk.now() - it->second.first < st_->fresh_s)
      co_return it->second.second;
  }
  co_return co_await st_->api.retrieve_batch(batch_id);
}

}  // namespace batchd::jobs
