#include "server/api_error.h"

namespace specula::server {

std::string ApiError::body() const {
  nlohmann::json e = {{"code", status}, {"message", message}, {"type", type}};
  for (const auto& [k, v] : extra.items()) e[k] = v;
  return nlohmann::json{{"error", e}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

ApiError api_error(int status, std::string type, std::string message) {
  return ApiError{status, std::move(type), std::move(message), nlohmann::json::object()};
}

ApiError api_error(const Error& error) {
  switch (error.code()) {
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kCorruptData:
    case ErrorCode::kUnsupported:
    case ErrorCode::kOutOfRange:
      return api_error(400, "invalid_request_error", error.message());
    case ErrorCode::kNotFound:
      return api_error(404, "not_found_error", error.message());
    case ErrorCode::kUnauthorized:
      return api_error(401, "authentication_error", error.message());
    case ErrorCode::kResourceExhausted:
      return api_error(503, "unavailable_error", error.message());
    default:
      return api_error(500, "server_error", error.message());
  }
}

}  // namespace specula::server
