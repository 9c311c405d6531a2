// batchd-sim: POST /v1/moderations, /v1/images/generations, /v1/images/edits
// and /v1/videos, from openapi.yaml (#CreateModerationRequest/Response,
// #CreateImageRequest, #EditImageBodyJsonParam, #ImagesResponse with
// #ImageGenUsage, #CreateVideoJsonBody, #VideoResource). The results are
// small fakes: a one-pixel PNG, a finished video job. Image usage follows
// the spec (input text and image tokens, output image tokens); a video
// carries none (it is priced per second).
#include <cstdio>

#include "sim/processor_detail.hpp"

namespace batchd::sim::detail {
namespace {

using nlohmann::json;

// A 1×1 transparent PNG.
constexpr const char* one_pixel_png =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=";
constexpr std::int64_t tokens_per_input_image = 256;

std::optional<api_result> need_string(const json& body, const char* field, std::size_t max) {
  if (!body.contains(field)) return bad_request(std::string("Missing required parameter: '") + field + "'.", field);
  if (!body[field].is_string() || body[field].get<std::string>().empty() || body[field].get<std::string>().size() > max)
    return bad_request(std::string("Invalid '") + field + "': expected a string of 1 to " + std::to_string(max) +
                           " characters.",
                       field);
  return std::nullopt;
}

// Output image tokens by quality, for a 1024x1024 image (the GPT image models' usual figures).
std::int64_t output_image_tokens(const json& body) {
  const auto quality = body.value("quality", std::string("medium"));
  if (quality == "low") return 272;
  if (quality == "high") return 4160;
  return 1056;
}

api_result moderation(const json& body, const request_context& ctx) {
  api_result r;
  r.model = body.value("model", std::string("omni-moderation-latest"));
  json categories = json::object(), scores = json::object();
  for (const char* c : {"harassment", "hate", "self-harm", "sexual", "violence"}) {
    categories[c] = false;
    scores[c] = 0.0001;
  }
  char id[40];
  std::snprintf(id, sizeof id, "modr-%016llx", static_cast<unsigned long long>(fnv1a(body.dump()) ^ ctx.key));
  r.body = {{"id", id},
            {"model", r.model},
            {"results", json::array({{{"flagged", false}, {"categories", categories}, {"category_scores", scores}}})}};
  return r;
}

api_result image(const std::string& endpoint, const json& body, const request_context& ctx) {
  api_result r;
  r.model = body["model"].get<std::string>();
  const auto text = count_tokens(body["prompt"].get<std::string>());
  const auto images = endpoint == "/v1/images/edits" ? static_cast<std::int64_t>(body["images"].size()) : 0;
  r.image_tokens = images * tokens_per_input_image;
  r.prompt_tokens = text + r.image_tokens;
  r.completion_tokens = output_image_tokens(body) * body.value("n", 1);
  json data = json::array();
  for (int i = 0; i < body.value("n", 1); ++i) data.push_back({{"b64_json", one_pixel_png}});
  r.body = {{"created", ctx.now_s},
            {"data", data},
            {"output_format", "png"},
            {"size", "1024x1024"},
            {"quality", body.value("quality", std::string("medium"))},
            {"usage", {{"input_tokens", r.prompt_tokens},
                       {"input_tokens_details", {{"text_tokens", text}, {"image_tokens", r.image_tokens}}},
                       {"output_tokens", r.completion_tokens},
                       {"total_tokens", r.prompt_tokens + r.completion_tokens}}}};
  return r;
}

api_result video(const json& body, const request_context& ctx) {
  api_result r;
  r.model = body.value("model", std::string("sora-2"));
  char id[40];
  std::snprintf(id, sizeof id, "video_%016llx", static_cast<unsigned long long>(fnv1a(body.dump()) ^ ctx.key));
  r.body = {{"id", id},
            {"object", "video"},
            {"model", r.model},
            {"status", "completed"},
            {"progress", 100},
            {"created_at", ctx.now_s},
            {"completed_at", ctx.now_s},
            {"expires_at", ctx.now_s + 86400},
            {"prompt", body["prompt"]},
            {"size", body.value("size", std::string("720x1280"))},
            {"seconds", body.value("seconds", std::string("4"))},
            {"remixed_from_video_id", nullptr},
            {"error", nullptr}};
  return r;
}

}  // namespace

std::optional<api_result> check_media(const std::string& endpoint, const json& body) {
  if (endpoint == "/v1/moderations") {
    if (!body.contains("input")) return bad_request("Missing required parameter: 'input'.", "input");
    return std::nullopt;
  }
  if (endpoint == "/v1/videos") return need_string(body, "prompt", 32000);
  if (auto err = need_model(body)) return err;
  if (body["model"].get<std::string>().rfind("gpt-image", 0) != 0) return model_not_found(body["model"]);
  if (auto err = need_string(body, "prompt", 32000)) return err;
  if (endpoint == "/v1/images/edits" && !(body.contains("images") && body["images"].is_array() && !body["images"].empty()))
    return bad_request("Missing required parameter: 'images'.", "images");
  return std::nullopt;
}

std::int64_t media_prompt_tokens(const std::string& endpoint, const json& body) {
  if (check_media(endpoint, body) || !body.contains("prompt")) return 0;
  return count_tokens(body["prompt"].get<std::string>());
}

api_result run_media(const std::string& endpoint, const json& body, const request_context& ctx) {
  if (auto err = check_media(endpoint, body)) return *err;
  if (endpoint == "/v1/moderations") return moderation(body, ctx);
  if (endpoint == "/v1/videos") return video(body, ctx);
  return image(endpoint, body, ctx);
}

}  // namespace batchd::sim::detail
