#include "sim/processor.hpp"

#include <gtest/gtest.h>

namespace batchd::sim {
namespace {

using nlohmann::json;

TEST(processor, embeddings_of_strings_arrays_and_tokens) {
  for (const json& input : {json("hello"), json({"a", "bb"}), json({1, 2, 3}), json({{1, 2}, {3}})}) {
    auto r = run_request("/v1/embeddings",
                         {{"model", "text-embedding-3-small"}, {"input", input}, {"dimensions", 8}}, {});
    ASSERT_EQ(r.status, 200) << r.body.dump();
    const auto expected = input.is_string() || input[0].is_number() ? 1u : input.size();
    ASSERT_EQ(r.body["data"].size(), expected);
    for (std::size_t i = 0; i < expected; ++i) {
      EXPECT_EQ(r.body["data"][i]["index"], i);
      EXPECT_EQ(r.body["data"][i]["embedding"].size(), 8u);
    }
    EXPECT_EQ(r.body["usage"]["prompt_tokens"], r.body["usage"]["total_tokens"]);
    EXPECT_GT(r.prompt_tokens, 0);
  }
}

TEST(processor, embeddings_are_deterministic_and_default_sized) {
  const json body = {{"model", "text-embedding-3-large"}, {"input", "same text"}};
  auto a = run_request("/v1/embeddings", body, {});
  auto b = run_request("/v1/embeddings", body, {});
  EXPECT_EQ(a.body["data"], b.body["data"]);
  EXPECT_EQ(a.body["data"][0]["embedding"].size(), 3072u);
}

TEST(processor, base64_embeddings_are_packed_float32) {
  auto r = run_request("/v1/embeddings",
                       {{"model", "text-embedding-3-small"}, {"input", "x"}, {"dimensions", 3},
                        {"encoding_format", "base64"}},
                       {});
  ASSERT_EQ(r.status, 200);
  // 3 floats = 12 bytes = 16 base64 characters.
  EXPECT_EQ(r.body["data"][0]["embedding"].get<std::string>().size(), 16u);
}

TEST(processor, embedding_limits) {
  EXPECT_EQ(run_request("/v1/embeddings", {{"model", "text-embedding-3-small"}, {"input", ""}}, {}).status, 400);
  EXPECT_EQ(run_request("/v1/embeddings", {{"model", "text-embedding-3-small"}, {"input", std::string(40000, 'x')}}, {}).status, 400);
  EXPECT_EQ(run_request("/v1/embeddings", {{"model", "text-embedding-3-small"}, {"input", json(std::vector<std::string>(2049, "x"))}}, {}).status, 400);
  EXPECT_EQ(run_request("/v1/embeddings", {{"model", "text-embedding-ada-002"}, {"input", "x"}, {"dimensions", 8}}, {}).status, 400);
  EXPECT_EQ(run_request("/v1/embeddings", {{"model", "no-such-model"}, {"input", "x"}}, {}).status, 404);
}

TEST(processor, chat_usage_adds_up_and_respects_max_tokens) {
  const json body = {{"model", "gpt-4o-mini"},
                     {"messages", {{{"role", "user"}, {"content", "Tell me a long story please"}}}},
                     {"max_tokens", 2}};
  auto r = run_request("/v1/chat/completions", body, {1700000000, 7, 0});
  ASSERT_EQ(r.status, 200) << r.body.dump();
  const auto& u = r.body["usage"];
  EXPECT_EQ(u["total_tokens"], u["prompt_tokens"].get<int>() + u["completion_tokens"].get<int>());
  EXPECT_EQ(u["completion_tokens"], 2);
  EXPECT_EQ(r.body["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(r.body["model"], "gpt-4o-mini-2024-07-18");
  EXPECT_EQ(r.body["object"], "chat.completion");
}

TEST(processor, chat_cache_hits_only_on_long_prompts) {
  const json long_body = {{"model", "gpt-4o"},
                          {"messages", {{{"role", "user"}, {"content", std::string(8000, 'a')}}}}};
  auto hit = run_request("/v1/chat/completions", long_body, {0, 1, 1.0});
  EXPECT_GT(hit.cached_tokens, 0);
  EXPECT_EQ(hit.cached_tokens % 128, 0);
  EXPECT_EQ(hit.body["usage"]["prompt_tokens_details"]["cached_tokens"], hit.cached_tokens);
  const json short_body = {{"model", "gpt-4o"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}};
  EXPECT_EQ(run_request("/v1/chat/completions", short_body, {0, 1, 1.0}).cached_tokens, 0);
}

TEST(processor, chat_rejects_bad_bodies) {
  EXPECT_EQ(run_request("/v1/chat/completions", {{"model", "gpt-4o"}}, {}).status, 400);
  EXPECT_EQ(run_request("/v1/chat/completions", {{"model", "gpt-4o"}, {"messages", json::array()}}, {}).status, 400);
  EXPECT_EQ(run_request("/v1/chat/completions",
                        {{"model", "gpt-4o"}, {"stream", true}, {"messages", {{{"role", "user"}, {"content", "x"}}}}}, {})
                .status,
            400);
  auto r = run_request("/v1/chat/completions", {{"model", "davinci"}, {"messages", {{{"role", "user"}, {"content", "x"}}}}}, {});
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body["error"]["code"], "model_not_found");
  EXPECT_TRUE(r.body["error"].contains("param"));
}

}  // namespace
}  // namespace batchd::sim
