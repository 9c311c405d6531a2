#pragma once
// Search over a job's vector file: rank its rows by cosine similarity to a
// text (embedded with the synchronous /v1/embeddings, the job's model and
// dimensions, booked in the ledger at the regular price) or to one of its
// own rows (no API call). The ranking and file reading run on a worker.
#include <boost/asio/awaitable.hpp>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>

#include "spool.hpp"

namespace batchd::openai {
class client;
}
namespace batchd::store {
class database;
}

namespace batchd::jobs {

class clock;
class pipeline;
class worker_pool;
struct loaded_vectors;

struct search_request {
  std::string job;
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
  vector_queries(store::database& db, spool dirs, worker_pool& pool, openai::client& api, const pipeline& runner,
                 const clock& clk);
  ~vector_queries();

  // {"job", "rows", "dimensions", "results": [{"rank", "score", "custom_id", "index", "input"}, …],
  //  "cost": {…} for a query}. Throws search_refusal.
  boost::asio::awaitable<nlohmann::json> search(search_request r);

 private:
  boost::asio::awaitable<std::shared_ptr<const loaded_vectors>> load(const std::filesystem::path& dir);
  store::database& db_;
  spool dirs_;
  worker_pool& pool_;
  openai::client& api_;
  const pipeline& runner_;
  const clock& clock_;
  std::map<std::string, std::shared_ptr<const loaded_vectors>> cache_;  // by outbox folder; a few at most
};

}  // namespace batchd::jobs
