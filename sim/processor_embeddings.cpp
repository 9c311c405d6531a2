// batchd-sim: POST /v1/embeddings (string, array and token-array inputs;
// dimensions; float or base64 packed float32), deterministic unit vectors.
#include <cmath>
#include <vector>

#include "sim/processor_detail.hpp"

namespace batchd::sim::detail {
namespace {

using nlohmann::json;

constexpr std::int64_t max_inputs_per_request = 2048;
constexpr std::int64_t max_tokens_per_input = 8192;
constexpr std::int64_t max_tokens_per_request = 300000;

std::optional<int> native_dimensions(const std::string& model) {
  if (model == "text-embedding-3-small" || model == "text-embedding-ada-002") return 1536;
  if (model == "text-embedding-3-large") return 3072;
  return std::nullopt;
}

// One embedding input: its text (for strings) or its token ids.
struct embedding_input {
  std::string text;
  std::vector<std::int64_t> tokens;
  bool is_tokens = false;
  std::int64_t token_count() const {
    return is_tokens ? static_cast<std::int64_t>(tokens.size()) : count_tokens(text);
  }
};

bool is_token_array(const json& j) {
  if (!j.is_array() || j.empty()) return false;
  for (const auto& t : j)
    if (!t.is_number_integer()) return false;
  return true;
}

// Splits `input` into its items, or explains why it is not valid.
std::optional<api_result> parse_inputs(const json& input, std::vector<embedding_input>& out) {
  auto bad = [] {
    return bad_request(
        "'$.input' is invalid. Please check the API reference: "
        "https://platform.openai.com/docs/api-reference.",
        "input");
  };
  if (input.is_string()) {
    out.push_back({input.get<std::string>(), {}, false});
  } else if (is_token_array(input)) {
    out.push_back({{}, input.get<std::vector<std::int64_t>>(), true});
  } else if (input.is_array() && !input.empty()) {
    for (const auto& item : input) {
      if (item.is_string())
        out.push_back({item.get<std::string>(), {}, false});
      else if (is_token_array(item))
        out.push_back({{}, item.get<std::vector<std::int64_t>>(), true});
      else
        return bad();
    }
  } else {
    return bad();
  }
  if (static_cast<std::int64_t>(out.size()) > max_inputs_per_request)
    return bad_request("Invalid 'input': maximum input array size is 2048.", "input");
  std::int64_t total = 0;
  for (const auto& in : out) {
    if (!in.is_tokens && in.text.empty())
      return bad_request("'$.input' is invalid: empty strings are not allowed.", "input");
    const auto n = in.token_count();
    if (n > max_tokens_per_input)
      return bad_request("This model's maximum context length is 8192 tokens, however you requested " +
                             std::to_string(n) + " tokens in your input. Please reduce your input.",
                         "input");
    total += n;
  }
  if (total > max_tokens_per_request)
    return bad_request("Requested " + std::to_string(total) +
                           " tokens, max 300000 tokens per request",
                       "input");
  return std::nullopt;
}

std::optional<api_result> check_inputs(const json& body, std::vector<embedding_input>* inputs) {
  if (!body.contains("model") || !body["model"].is_string())
    return bad_request("you must provide a model parameter", "model");
  const auto model = body["model"].get<std::string>();
  const auto dims = native_dimensions(model);
  if (!dims) return model_not_found(model);
  if (!body.contains("input")) return bad_request("Missing required parameter: 'input'.", "input");
  if (body.contains("dimensions")) {
    const auto& d = body["dimensions"];
    if (model == "text-embedding-ada-002")
      return bad_request("This model does not support specifying dimensions.", "dimensions");
    if (!d.is_number_integer() || d.get<std::int64_t>() < 1 || d.get<std::int64_t>() > *dims)
      return bad_request("Invalid value for 'dimensions': must be an integer between 1 and " +
                             std::to_string(*dims) + ".",
                         "dimensions");
  }
  if (body.contains("encoding_format")) {
    const auto& f = body["encoding_format"];
    if (!f.is_string() || (f != "float" && f != "base64"))
      return bad_request("Invalid value for 'encoding_format': expected 'float' or 'base64'.",
                         "encoding_format");
  }
  std::vector<embedding_input> local;
  return parse_inputs(body["input"], inputs ? *inputs : local);
}

}  // namespace

std::string base64(const unsigned char* p, std::size_t n) {
  static constexpr char table[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((n + 2) / 3 * 4);
  for (std::size_t i = 0; i < n; i += 3) {
    std::uint32_t v = p[i] << 16;
    if (i + 1 < n) v |= p[i + 1] << 8;
    if (i + 2 < n) v |= p[i + 2];
    out += table[(v >> 18) & 63];
    out += table[(v >> 12) & 63];
    out += i + 1 < n ? table[(v >> 6) & 63] : '=';
    out += i + 2 < n ? table[v & 63] : '=';
  }
  return out;
}

namespace {

// A unit vector that depends only on the model and the input.
std::vector<float> embed(const std::string& model, const embedding_input& in, int dims) {
  std::uint64_t state = fnv1a(model);
  if (in.is_tokens)
    for (auto t : in.tokens) state = fnv1a(std::to_string(t) + ",", state);
  else
    state = fnv1a(in.text, state);
  std::vector<float> v(dims);
  double norm = 0;
  for (auto& x : v) {
    x = static_cast<float>(static_cast<double>(splitmix(state) >> 11) / 9007199254740992.0 * 2 - 1);
    norm += double(x) * x;
  }
  norm = std::sqrt(norm);
  // Rounded to 6 decimals: short JSON, still (to float precision) unit length.
  for (auto& x : v) x = static_cast<float>(std::round(x / norm * 1e6) / 1e6);
  return v;
}

}  // namespace

api_result run_embeddings(const json& body) {
  std::vector<embedding_input> inputs;
  if (auto err = check_inputs(body, &inputs)) return *err;
  const auto model = body["model"].get<std::string>();
  const int dims = body.contains("dimensions") ? body["dimensions"].get<int>()
                                               : *native_dimensions(model);
  const bool b64 = body.value("encoding_format", std::string("float")) == "base64";
  json data = json::array();
  std::int64_t tokens = 0;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    tokens += inputs[i].token_count();
    auto v = embed(model, inputs[i], dims);
    json item = {{"object", "embedding"}, {"index", i}};
    if (b64)  // packed little-endian float32, as the SDKs decode it
      item["embedding"] = base64(reinterpret_cast<const unsigned char*>(v.data()), v.size() * 4);
    else
      item["embedding"] = v;
    data.push_back(std::move(item));
  }
  api_result r;
  r.body = {{"object", "list"},
            {"data", std::move(data)},
            {"model", model},
            {"usage", {{"prompt_tokens", tokens}, {"total_tokens", tokens}}}};
  r.model = model;
  r.prompt_tokens = tokens;
  return r;
}


std::optional<api_result> check_embeddings(const json& body) { return check_inputs(body, nullptr); }

std::int64_t embedding_prompt_tokens(const json& body) {
  std::vector<embedding_input> inputs;
  if (!body.is_object() || !body.contains("input") || parse_inputs(body["input"], inputs)) return 0;
  std::int64_t n = 0;
  for (const auto& in : inputs) n += in.token_count();
  return n;
}

}  // namespace batchd::sim::detail
