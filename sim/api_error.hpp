#pragma once
// The API's error envelope: {"error": {"message", "type", "param", "code"}},
// all four keys always present, as the spec's #Error requires.
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>

namespace batchd::sim {

inline nlohmann::json error_body(const std::string& message, const std::string& type,
                                 const std::optional<std::string>& param,
                                 const std::optional<std::string>& code) {
  return {{"error",
           {{"message", message},
            {"type", type},
            {"param", param ? nlohmann::json(*param) : nlohmann::json(nullptr)},
            {"code", code ? nlohmann::json(*code) : nlohmann::json(nullptr)}}}};
}

// Thrown by route handlers to answer with an error envelope.
struct api_exception : std::runtime_error {
  api_exception(int status, const std::string& message, std::optional<std::string> param = {},
                std::optional<std::string> code = {},
                std::string type = "invalid_request_error")
      : std::runtime_error(message),
        status(status),
        body(error_body(message, type, param, code)) {}
  int status;
  nlohmann::json body;
};

}  // namespace batchd::sim
