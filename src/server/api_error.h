// OpenAI-shaped HTTP errors: {"error": {"code": <status>, "message": ..., "type": ...}} plus extra fields
// (exceed_context_size_error carries n_prompt_tokens and n_ctx). Maps specula::Error codes to HTTP statuses.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "base/result.h"

namespace specula::server {

struct ApiError {
  int status = 400;
  std::string type = "invalid_request_error";
  std::string message;
  nlohmann::json extra = nlohmann::json::object();  // merged into the "error" object

  std::string body() const;
};

// kInvalidArgument/kCorruptData/kUnsupported/kOutOfRange -> 400 invalid_request_error, kNotFound -> 404,
// kUnauthorized -> 401 authentication_error, kResourceExhausted -> 503 unavailable_error, others -> 500 server_error.
ApiError api_error(const Error& error);
ApiError api_error(int status, std::string type, std::string message);

}  // namespace specula::server
