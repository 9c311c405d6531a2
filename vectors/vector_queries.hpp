#pragma once
// Search over a job's vector file: rank its rows by cosine similarity to a
// text (embedded with the synchronous /v1/embeddings, the job's model and
// dimensions, booked in the ledger at the regular price) or to one of its
// own rows (no API call). The ranking and file reading run on a worker.
// Which job and which folder is the caller's to say (search_target).
#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>

namespace batchd::openai {
class client;
}
namespace batchd::store {
class database;
}

namespace batchd::io {
class clock;
class worker_pool;
}  // namespace batchd::io
namespace batchd::ledger {
class pricing_table;
}

namespace batchd::vectors {

struct loaded_vectors;

// The job whose vectors are searched: its folder holds embeddings.npy and
// embeddings.rows.jsonl; a query is embedded with `model` and booked to `job_id`.
struct search_target {
  std::int64_t job_id = 0;
  std::string job;
  std::filesystem::path dir;
  std::string model;
};

struct search_request {
  std::optional<std::string> query;  // a text to embed …
  std::optional<std::string> like;   // … or the custom_id of a row
  std::size_t k = 10;
};

// Why a search cannot be answered, with the status and code of the socket's error envelope.
struct search_refusal : std::runtime_error {
  search_refusal(int status, std::string code, const std::string& message)
      : std::runtime_error(message), status(status), code(std::move(code)) {}
  int status;
  std::string code;
};

class vector_queries {
 public:
  // `prices`: the table in force (replaced on SIGHUP).
  using prices_fn = std::function<std::shared_ptr<const ledger::pricing_table>()>;
  vector_queries(store::database& db, io::worker_pool& pool, openai::client& api, prices_fn prices,
                 const io::clock& clk);
  ~vector_queries();

  // {"job", "rows", "dimensions", "results": [{"rank", "score", "custom_id", "index", "input"}, …],
  //  "cost": {…} for a query}. Throws search_refusal.
  boost::asio::awaitable<nlohmann::json> search(search_target t, search_request r);

 private:
  boost::asio::awaitable<std::shared_ptr<const loaded_vectors>> load(const std::filesystem::path& dir);
  store::database& db_;
  io::worker_pool& pool_;
  openai::client& api_;
  prices_fn prices_;
  const io::clock& clock_;
  std::map<std::string, std::shared_ptr<const loaded_vectors>> cache_;  // by outbox folder; a few at most
};

}  // namespace batchd::vectors
