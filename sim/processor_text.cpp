// batchd-sim: text generation — POST /v1/chat/completions, /v1/responses and
// /v1/completions (openapi.yaml: #CreateChatCompletionRequest/Response,
// #CreateResponse/#Response, #CreateCompletionRequest/Response). The reply is
// deterministic; usage counts one token per 4 bytes; reasoning models (o-,
// gpt-5 and later) also think, billed inside the output as reasoning tokens
// (#CompletionUsage.completion_tokens_details, #ResponseUsage).
#include <cstdio>

#include "sim/processor_detail.hpp"

namespace batchd::sim::detail {
namespace {

using nlohmann::json;

bool is_text_model(const std::string& m) {
  for (const char* prefix : {"gpt-", "o1", "o3", "o4", "chatgpt-", "ft:gpt-", "davinci-", "babbage-"})
    if (m.rfind(prefix, 0) == 0) return m.rfind("gpt-image", 0) != 0;
  return false;
}

bool is_reasoning_model(const std::string& m) {
  for (const char* prefix : {"o1", "o3", "o4", "gpt-5", "gpt-6", "ft:o4"})
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
      if (part.is_object() && part.contains("text") && part["text"].is_string()) text += part["text"].get<std::string>();
  return text;
}

// The prompt's text and its token count, as each endpoint carries it.
struct prompt {
  std::string last;  // what the reply answers
  std::int64_t tokens = 0;
};

prompt prompt_of(const std::string& endpoint, const json& body) {
  prompt p;
  if (endpoint == "/v1/chat/completions") {
    p.tokens = 3;
    for (const auto& m : body["messages"]) p.tokens += 4 + count_tokens(message_text(m["content"]));
    p.last = message_text(body["messages"].back()["content"]);
  } else {
    const auto& in = endpoint == "/v1/responses" ? body["input"] : body["prompt"];
    if (in.is_string()) p.last = in.get<std::string>();
    else if (in.is_array())
      for (const auto& item : in)
        p.last += item.is_object() && item.contains("content") ? message_text(item["content"]) : message_text(item);
    p.tokens = count_tokens(p.last) + (endpoint == "/v1/responses" ? 3 : 0);
  }
  return p;
}

std::optional<api_result> check_chat_messages(const json& body) {
  if (!body.contains("messages")) return bad_request("Missing required parameter: 'messages'.", "messages");
  const auto& msgs = body["messages"];
  if (!msgs.is_array() || msgs.empty())
    return bad_request("Invalid 'messages': expected a non-empty array.", "messages");
  for (std::size_t i = 0; i < msgs.size(); ++i) {
    const auto& m = msgs[i];
    const auto where = "messages[" + std::to_string(i) + "]";
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string())
      return bad_request("Missing required parameter: '" + where + ".role'.", where + ".role");
    if (!m.contains("content"))
      return bad_request("Missing required parameter: '" + where + ".content'.", where + ".content");
  }
  return std::nullopt;
}

// The reply and its tokens: the visible text, and (reasoning models) the
// thinking before it, together within max_completion_tokens / max_output_tokens.
struct reply {
  std::string text;
  std::int64_t completion = 0, reasoning = 0;
  std::string finish = "stop";
};

reply reply_to(const std::string& model, const json& body, const prompt& p, std::uint64_t h) {
  reply r;
  r.text = "Simulated answer " + std::to_string(h % 100000) + " to: " + p.last.substr(0, 60);
  const auto visible = count_tokens(r.text);
  r.reasoning = is_reasoning_model(model) ? 3 * visible + static_cast<std::int64_t>(h % 7) : 0;
  r.completion = visible + r.reasoning;
  std::int64_t cap = 0;
  for (const char* key : {"max_completion_tokens", "max_output_tokens", "max_tokens"})
    if (!cap && body.contains(key)) cap = body[key].get<std::int64_t>();
  if (cap > 0 && r.completion > cap) {
    r.reasoning = std::min(r.reasoning, cap);
    r.completion = cap;
    r.text.resize(static_cast<std::size_t>(std::max<std::int64_t>(0, cap - r.reasoning) * 4));
    r.finish = "length";
  }
  return r;
}

json chat_body(const api_result& r, const reply& re, const char* id, const request_context& ctx) {
  return {{"id", id},
          {"object", "chat.completion"},
          {"created", ctx.now_s},
          {"model", r.model},
          {"choices", json::array({{{"index", 0},
                                    {"message", {{"role", "assistant"}, {"content", re.text}, {"refusal", nullptr},
                                                 {"annotations", json::array()}}},
                                    {"logprobs", nullptr},
                                    {"finish_reason", re.finish}}})},
          {"usage", {{"prompt_tokens", r.prompt_tokens},
                     {"completion_tokens", r.completion_tokens},
                     {"total_tokens", r.prompt_tokens + r.completion_tokens},
                     {"prompt_tokens_details", {{"cached_tokens", r.cached_tokens}, {"audio_tokens", 0}}},
                     {"completion_tokens_details", {{"reasoning_tokens", r.reasoning_tokens},
                                                    {"audio_tokens", 0},
                                                    {"accepted_prediction_tokens", 0},
                                                    {"rejected_prediction_tokens", 0}}}}},
          {"service_tier", "default"},
          {"system_fingerprint", "fp_batchd_sim"}};
}

json response_body(const api_result& r, const reply& re, const char* id, const request_context& ctx) {
  return {{"id", std::string("resp_") + (id + 9)},
          {"object", "response"},
          {"created_at", ctx.now_s},
          {"status", re.finish == "stop" ? "completed" : "incomplete"},
          {"model", r.model},
          {"output", json::array({{{"type", "message"}, {"id", std::string("msg_") + (id + 9)}, {"status", "completed"},
                                   {"role", "assistant"},
                                   {"content", json::array({{{"type", "output_text"}, {"text", re.text},
                                                             {"annotations", json::array()}}})}}})},
          {"usage", {{"input_tokens", r.prompt_tokens},
                     {"input_tokens_details", {{"cached_tokens", r.cached_tokens}}},
                     {"output_tokens", r.completion_tokens},
                     {"output_tokens_details", {{"reasoning_tokens", r.reasoning_tokens}}},
                     {"total_tokens", r.prompt_tokens + r.completion_tokens}}}};
}

json completion_body(const api_result& r, const reply& re, const char* id, const request_context& ctx) {
  return {{"id", std::string("cmpl-") + (id + 9)},
          {"object", "text_completion"},
          {"created", ctx.now_s},
          {"model", r.model},
          {"choices", json::array({{{"text", re.text}, {"index", 0}, {"logprobs", nullptr}, {"finish_reason", re.finish}}})},
          {"usage", {{"prompt_tokens", r.prompt_tokens},
                     {"completion_tokens", r.completion_tokens},
                     {"total_tokens", r.prompt_tokens + r.completion_tokens}}}};
}

}  // namespace

std::optional<api_result> check_text(const std::string& endpoint, const json& body) {
  if (auto err = need_model(body)) return err;
  if (!is_text_model(body["model"].get<std::string>())) return model_not_found(body["model"].get<std::string>());
  if (endpoint == "/v1/chat/completions") {
    if (auto err = check_chat_messages(body)) return err;
  } else {
    const char* field = endpoint == "/v1/responses" ? "input" : "prompt";
    if (!body.contains(field) || !(body[field].is_string() || body[field].is_array()))
      return bad_request(std::string("Missing required parameter: '") + field + "'.", field);
  }
  if (body.value("stream", false)) return bad_request("Streaming is not supported in this context.", "stream");
  for (const char* key : {"max_tokens", "max_completion_tokens", "max_output_tokens"})
    if (body.contains(key) && (!body[key].is_number_integer() || body[key].get<std::int64_t>() < 1))
      return bad_request(std::string("Invalid '") + key + "': must be a positive integer.", key);
  return std::nullopt;
}

std::int64_t text_prompt_tokens(const std::string& endpoint, const json& body) {
  return check_text(endpoint, body) ? 0 : prompt_of(endpoint, body).tokens;
}

api_result run_text(const std::string& endpoint, const json& body, const request_context& ctx) {
  if (auto err = check_text(endpoint, body)) return *err;
  const auto model = body["model"].get<std::string>();
  const auto p = prompt_of(endpoint, body);
  const std::uint64_t h = fnv1a(body.dump());
  const auto re = reply_to(model, body, p, h);
  api_result r;
  r.model = served_model(model);
  r.prompt_tokens = p.tokens;
  r.completion_tokens = re.completion;
  r.reasoning_tokens = re.reasoning;
  // Prompt caching starts at 1024 tokens and counts in steps of 128.
  std::uint64_t state = ctx.key ^ h;
  if (p.tokens >= 1024 && ctx.cache_hit_rate > 0 &&
      static_cast<double>(splitmix(state) >> 11) / 9007199254740992.0 < ctx.cache_hit_rate)
    r.cached_tokens = (p.tokens / 2 / 128) * 128;
  char id[32];
  std::snprintf(id, sizeof id, "chatcmpl-%016llx", static_cast<unsigned long long>(h ^ ctx.key));
  if (endpoint == "/v1/chat/completions") r.body = chat_body(r, re, id, ctx);
  else if (endpoint == "/v1/responses") r.body = response_body(r, re, id, ctx);
  else r.body = completion_body(r, re, id, ctx);
  return r;
}

}  // namespace batchd::sim::detail
