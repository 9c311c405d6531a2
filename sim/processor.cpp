#include "sim/processor.hpp"

#include <array>
#include <cmath>
#include <cstring>
#include <vector>

#include "sim/api_error.hpp"

namespace batchd::sim {
namespace {

using nlohmann::json;

std::uint64_t splitmix(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::uint64_t fnv1a(std::string_view s, std::uint64_t h = 1469598103934665603ULL) {
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ULL;
  return h;
}

api_result bad_request(std::string message, std::optional<std::string> param = std::nullopt) {
  return {400, error_body(message, "invalid_request_error", param, std::nullopt), {}, 0, 0, 0};
}

api_result model_not_found(const std::string& model) {
  return {404,
          error_body("The model `" + model + "` does not exist or you do not have access to it.",
                     "invalid_request_error", std::nullopt, "model_not_found"),
          {}, 0, 0, 0};
}

// ---- embeddings ----------------------------------------------------------

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

std::optional<api_result> check_embeddings(const json& body, std::vector<embedding_input>* inputs) {
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

api_result run_embeddings(const json& body) {
  std::vector<embedding_input> inputs;
  if (auto err = check_embeddings(body, &inputs)) return *err;
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

// ---- chat completions ----------------------------------------------------

bool is_chat_model(const std::string& m) {
  for (const char* prefix : {"gpt-", "o1", "o3", "o4", "chatgpt-", "ft:gpt-"})
    if (m.rfind(prefix, 0) == 0) return true;
  return false;
}

// The dated snapshot the service reports for an alias, as the real one does.
std::string served_model(const std::string& m) {
  if (m == "gpt-4o-mini") return "gpt-4o-mini-2024-07-18";
  if (m == "gpt-4o") return "gpt-4o-2024-08-06";
  return m;
}

std::string message_text(const json& content) {
  if (content.is_string()) return content.get<std::string>();
  std::string text;
  if (content.is_array())
    for (const auto& part : content)
      if (part.is_object() && part.value("type", "") == "text" && part.contains("text") &&
          part["text"].is_string())
        text += part["text"].get<std::string>();
  return text;
}

std::optional<api_result> check_chat(const json& body) {
  if (!body.contains("model") || !body["model"].is_string())
    return bad_request("you must provide a model parameter", "model");
  if (!is_chat_model(body["model"].get<std::string>()))
    return model_not_found(body["model"].get<std::string>());
  if (!body.contains("messages"))
    return bad_request("Missing required parameter: 'messages'.", "messages");
  const auto& msgs = body["messages"];
  if (!msgs.is_array() || msgs.empty())
    return bad_request("Invalid 'messages': expected a non-empty array.", "messages");
  for (std::size_t i = 0; i < msgs.size(); ++i) {
    const auto& m = msgs[i];
    const auto where = "messages[" + std::to_string(i) + "]";
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string())
      return bad_request("Missing required parameter: '" + where + ".role'.", where + ".role");
    if (!m.contains("content"))
      return bad_request("Missing required parameter: '" + where + ".content'.",
                         where + ".content");
  }
  if (body.value("stream", false))
    return bad_request("Streaming is not supported in this context.", "stream");
  for (const char* key : {"max_tokens", "max_completion_tokens"})
    if (body.contains(key) && (!body[key].is_number_integer() || body[key].get<std::int64_t>() < 1))
      return bad_request(std::string("Invalid '") + key + "': must be a positive integer.", key);
  return std::nullopt;
}

std::int64_t chat_prompt_tokens(const json& body) {
  std::int64_t n = 3;
  for (const auto& m : body["messages"]) n += 4 + count_tokens(message_text(m["content"]));
  return n;
}

api_result run_chat(const json& body, const request_context& ctx) {
  if (auto err = check_chat(body)) return *err;
  const auto model = body["model"].get<std::string>();
  const auto& last = body["messages"].back();
  const auto prompt = message_text(last["content"]);
  std::uint64_t h = fnv1a(body.dump());
  std::string reply = "Simulated answer " + std::to_string(h % 100000) + " to: " +
                      prompt.substr(0, 60);
  std::int64_t completion = count_tokens(reply);
  std::string finish = "stop";
  std::int64_t cap = 0;
  if (body.contains("max_completion_tokens")) cap = body["max_completion_tokens"].get<std::int64_t>();
  else if (body.contains("max_tokens")) cap = body["max_tokens"].get<std::int64_t>();
  if (cap > 0 && completion > cap) {
    reply.resize(static_cast<std::size_t>(cap * 4));
    completion = cap;
    finish = "length";
  }
  const std::int64_t prompt_tokens = chat_prompt_tokens(body);
  std::int64_t cached = 0;
  // Prompt caching starts at 1024 tokens and counts in steps of 128.
  std::uint64_t state = ctx.key ^ h;
  if (prompt_tokens >= 1024 && ctx.cache_hit_rate > 0 &&
      static_cast<double>(splitmix(state) >> 11) / 9007199254740992.0 < ctx.cache_hit_rate)
    cached = (prompt_tokens / 2 / 128) * 128;

  char id[32];
  std::snprintf(id, sizeof id, "chatcmpl-%016llx", static_cast<unsigned long long>(h ^ ctx.key));
  api_result r;
  r.model = served_model(model);
  r.prompt_tokens = prompt_tokens;
  r.completion_tokens = completion;
  r.cached_tokens = cached;
  r.body = {
      {"id", id},
      {"object", "chat.completion"},
      {"created", ctx.now_s},
      {"model", r.model},
      {"choices",
       json::array({{{"index", 0},
                     {"message",
                      {{"role", "assistant"},
                       {"content", reply},
                       {"refusal", nullptr},
                       {"annotations", json::array()}}},
                     {"logprobs", nullptr},
                     {"finish_reason", finish}}})},
      {"usage",
       {{"prompt_tokens", prompt_tokens},
        {"completion_tokens", completion},
        {"total_tokens", prompt_tokens + completion},
        {"prompt_tokens_details", {{"cached_tokens", cached}, {"audio_tokens", 0}}},
        {"completion_tokens_details",
         {{"reasoning_tokens", 0},
          {"audio_tokens", 0},
          {"accepted_prediction_tokens", 0},
          {"rejected_prediction_tokens", 0}}}}},
      {"service_tier", "default"},
      {"system_fingerprint", "fp_batchd_sim"}};
  return r;
}

}  // namespace

std::int64_t count_tokens(std::string_view text) {
  return std::max<std::int64_t>(1, static_cast<std::int64_t>((text.size() + 3) / 4));
}

bool is_supported_endpoint(const std::string& e) {
  return e == "/v1/embeddings" || e == "/v1/chat/completions";
}

std::optional<api_result> check_request(const std::string& endpoint, const json& body) {
  if (!body.is_object()) return bad_request("The request body must be a JSON object.");
  if (endpoint == "/v1/embeddings") return check_embeddings(body, nullptr);
  if (endpoint == "/v1/chat/completions") return check_chat(body);
  return bad_request("batchd-sim does not serve " + endpoint + ".");
}

std::int64_t estimate_prompt_tokens(const std::string& endpoint, const json& body) {
  if (endpoint == "/v1/chat/completions" && check_chat(body) == std::nullopt)
    return chat_prompt_tokens(body);
  std::vector<embedding_input> inputs;
  if (endpoint == "/v1/embeddings" && body.is_object() && body.contains("input") &&
      !parse_inputs(body["input"], inputs)) {
    std::int64_t n = 0;
    for (const auto& in : inputs) n += in.token_count();
    return n;
  }
  return 0;
}

api_result run_request(const std::string& endpoint, const json& body, const request_context& ctx) {
  if (auto err = check_request(endpoint, body)) return *err;
  if (endpoint == "/v1/embeddings") return run_embeddings(body);
  return run_chat(body, ctx);
}

}  // namespace batchd::sim
