#include "vectors/vector_queries.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>

#include "openai/client.hpp"
#include "openai/error.hpp"
#include "io/clock.hpp"
#include "store/database.hpp"
#include "io/mapped_file.hpp"
#include "ledger/money.hpp"
#include "ledger/pricing.hpp"
#include "vectors/vector_file.hpp"
#include "vectors/vector_search.hpp"
#include "io/worker_pool.hpp"

namespace batchd::vectors {
namespace fs = std::filesystem;
using nlohmann::json;

// A job's vector file and its row map, mapped, and where each row's line starts.
struct loaded_vectors {
  std::unique_ptr<npy_map> vectors;
  std::unique_ptr<io::mapped_file> rows;
  std::vector<std::uint64_t> offsets;  // 8 bytes a row: 8 MB for a million
  ino_t inode = 0;
  std::int64_t mtime_ns = 0;

  std::string_view line(std::size_t row) const {
    const auto text = rows->bytes();
    const auto to = row + 1 < offsets.size() ? offsets[row + 1] - 1 : text.size();  // without its '\n'
    return text.substr(offsets[row], to - offsets[row]);
  }

  // The row of `custom_id`: its line starts {"custom_id":"…",.
  std::optional<std::int64_t> row_of(const std::string& custom_id) const {
    const auto head = "{\"custom_id\":" + json(custom_id).dump() + ",";
    const auto text = rows->bytes();
    if (text.starts_with(head)) return 0;
    const auto at = text.find("\n" + head);
    if (at == std::string_view::npos) return std::nullopt;
    return std::upper_bound(offsets.begin(), offsets.end(), at + 1) - offsets.begin() - 1;
  }

  json row_json(std::int64_t row) const { return json::parse(line(static_cast<std::size_t>(row))); }
};

namespace {

std::pair<ino_t, std::int64_t> identity(const fs::path& p) {
  struct stat st{};
  if (::stat(p.c_str(), &st) != 0) return {0, 0};
  return {st.st_ino, static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
}

std::shared_ptr<const loaded_vectors> load_now(const fs::path& dir) {
  auto v = std::make_shared<loaded_vectors>();
  std::tie(v->inode, v->mtime_ns) = identity(dir / "embeddings.npy");
  v->vectors = std::make_unique<npy_map>(dir / "embeddings.npy");
  v->rows = std::make_unique<io::mapped_file>(dir / "embeddings.rows.jsonl");
  const auto text = v->rows->bytes();
  for (std::size_t at = 0; at < text.size();) {
    v->offsets.push_back(at);
    const auto end = text.find('\n', at);
    at = end == std::string_view::npos ? text.size() : end + 1;
  }
  if (static_cast<std::int64_t>(v->offsets.size()) != v->vectors->rows())
    throw std::runtime_error(dir.string() + ": embeddings.npy has " + std::to_string(v->vectors->rows()) +
                             " rows but embeddings.rows.jsonl " + std::to_string(v->offsets.size()));
  return v;
}

// Model names whose dimensions cannot be chosen (API-FACTS: ada-002 refuses "dimensions").
bool fixed_dimensions(const std::string& model) { return model.rfind("text-embedding-ada-002", 0) == 0; }

}  // namespace

vector_queries::vector_queries(store::database& db, io::worker_pool& pool, openai::client& api, prices_fn prices,
                               const io::clock& clk)
    : db_(db), pool_(pool), api_(api), prices_(std::move(prices)), clock_(clk) {}

vector_queries::~vector_queries() = default;

boost::asio::awaitable<std::shared_ptr<const loaded_vectors>> vector_queries::load(const fs::path& dir) {
  const auto key = dir.string();
  if (auto it = cache_.find(key); it != cache_.end()) {
    if (identity(dir / "embeddings.npy") == std::pair{it->second->inode, it->second->mtime_ns}) co_return it->second;
    cache_.erase(it);
  }
  const auto work = [dir] { return load_now(dir); };
  auto loaded = co_await pool_.run(work);
  if (cache_.size() >= 4) cache_.erase(cache_.begin());
  cache_[key] = loaded;
  co_return loaded;
}

boost::asio::awaitable<json> vector_queries::search(search_target t, search_request r) {
  if (r.query.has_value() == r.like.has_value())
    throw search_refusal(400, "invalid_request", "give \"query\" (a text) or \"like\" (a custom_id), one of them");
  if (r.k == 0 || r.k > 1000) throw search_refusal(400, "invalid_parameter", "k must be from 1 to 1000");
  if (r.query && r.query->empty()) throw search_refusal(400, "invalid_parameter", "the query text is empty");
  if (!fs::exists(t.dir / "embeddings.npy"))
    throw search_refusal(409, "no_vectors", "job '" + t.job + "' has no vector file yet; it is written when the job ends");
  const auto vectors = co_await load(t.dir);
  const auto dims = vectors->vectors->dims();
  json doc = {{"job", t.job}, {"rows", vectors->vectors->rows()}, {"dimensions", dims}};
  std::vector<float> query;
  if (r.like) {
    const auto find = [vectors, id = *r.like] { return vectors->row_of(id); };
    const auto row = co_await pool_.run(find);
    if (!row) throw search_refusal(404, "unknown_custom_id", "job '" + t.job + "' has no row for custom_id '" + *r.like + "'");
    const auto v = vectors->vectors->row(*row);
    query.assign(v.begin(), v.end());
    doc["like"] = *r.like;
  } else {
    const auto& model = t.model;
    json body = {{"model", model}, {"input", *r.query}, {"encoding_format", "base64"}};
    if (!fixed_dimensions(model)) body["dimensions"] = dims;
    // A synchronous call at the regular price, nothing saved. Booked before
    // it is made, with the estimate (bytes / 4), so a call whose answer is
    // lost is still in the ledger; settled with the answer's own count.
    const auto booking = [&](const std::string& served_as, std::int64_t tokens) {
      ledger::tokens used;
      used.prompt = tokens;
      const auto c = prices_()->cost(served_as, ledger::token_usage::of_line(used)).cost;
      store::ledger_entry e{t.job_id, 0, served_as, 1, tokens, 0, 0};
      e.batch_cost = e.regular_cost = c ? std::optional(c->regular) : std::nullopt;
      if (c) e.priced_as = c->row;
      e.sync = true;
      return e;
    };
    const auto booked = db_.book_sync(booking(model, static_cast<std::int64_t>(r.query->size() + 3) / 4), clock_.now());
    json reply;
    try {
      reply = co_await api_.create_embeddings(body);
    } catch (const openai::api_error& e) {
      if (e.status() >= 400 && e.status() < 500) db_.drop_sync(booked);  // refused: nothing was paid
      else spdlog::warn("job {}: a search query's answer never came ({}); its estimate stays in the ledger", t.job, e.what());
      throw search_refusal(502, "api_error", std::string("embedding the query failed: ") + e.what());
    }
    const auto usage = reply.is_object() && reply.contains("usage") && reply["usage"].is_object() ? reply["usage"] : json::object();
    const bool counted = usage.contains("prompt_tokens") && usage["prompt_tokens"].is_number_integer();
    // Without the API's count the estimate stands.
    const auto tokens = counted ? usage["prompt_tokens"].get<std::int64_t>()
                                : static_cast<std::int64_t>(r.query->size() + 3) / 4;
    const auto priced_as = reply.is_object() && reply.contains("model") && reply["model"].is_string()
                               ? reply["model"].get<std::string>() : model;
    const auto settled = booking(priced_as, tokens);
    db_.settle_sync(booked, settled);
    const auto* data = reply.is_object() && reply.contains("data") && reply["data"].is_array() && !reply["data"].empty()
                           ? &reply["data"][0] : nullptr;
    const bool text = data && data->is_object() && data->contains("embedding") && (*data)["embedding"].is_string();
    if (!text || !decode_base64_floats((*data)["embedding"].get<std::string>(), query) ||
        static_cast<std::int64_t>(query.size()) != dims)
      throw search_refusal(502, "api_error", "the API's embedding of the query is not a vector of " +
                                                 std::to_string(dims) + " floats");
    doc["query"] = *r.query;
    doc["cost"] = {{"model", priced_as}, {"prompt_tokens", tokens},
                   {"regular_usd", settled.regular_cost ? json(ledger::format_usd(*settled.regular_cost)) : json(nullptr)}};
  }
  const auto rank = [vectors, query = std::move(query), k = r.k] {
    json results = json::array();
    const auto hits = top_k(*vectors->vectors, query, k);
    for (std::size_t i = 0; i < hits.size(); ++i) {
      auto row = vectors->row_json(hits[i].row);
      results.push_back({{"rank", i + 1},
                         {"score", hits[i].score},
                         {"custom_id", row.value("custom_id", "")},
                         {"index", row.value("index", -1)},
                         {"input", row.value("input", "")}});
    }
    return results;
  };
  doc["results"] = co_await pool_.run(rank);
  co_return doc;
}

}  // namespace batchd::vectors
