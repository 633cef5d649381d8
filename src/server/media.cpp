#include "server/media.h"

#include <algorithm>
#include <cctype>
#include <string>

#include "base/base64.h"

namespace specula::server {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool starts_with_ci(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && lower(s.substr(0, prefix.size())) == prefix;
}

}  // namespace

Result<std::vector<uint8_t>> image_bytes(std::string_view url, std::string_view what) {
  if (starts_with_ci(url, "http://") || starts_with_ci(url, "https://")) {
    return make_error(ErrorCode::kInvalidArgument, "{}: remote image URLs are not supported; send the image inline "
                      "as a data URI (data:image/png;base64,...)", what);
  }
  if (starts_with_ci(url, "file:")) {
    return make_error(ErrorCode::kInvalidArgument, "{}: file:// URLs are not supported (the server does not read "
                      "local files for clients); send the image inline as a data URI", what);
  }
  std::string_view payload = url;
  if (starts_with_ci(url, "data:")) {
    const size_t comma = url.find(',');
    if (comma == std::string_view::npos) {
      return make_error(ErrorCode::kInvalidArgument, "{}: a data URI needs a ',' before its data", what);
    }
    const std::string header = lower(url.substr(5, comma - 5));
    if (header.rfind("image/", 0) != 0) {
      return make_error(ErrorCode::kInvalidArgument, "{}: the data URI's media type must be image/*, got '{}'", what,
                        header.substr(0, header.find(';')));
    }
    if (header.size() < 7 || header.compare(header.size() - 7, 7, ";base64") != 0) {
      return make_error(ErrorCode::kInvalidArgument, "{}: the data URI must be base64-encoded (';base64,')", what);
    }
    payload = url.substr(comma + 1);
  } else {
    // Bare base64 never holds a ':'; anything with one is a URL of some other scheme.
    if (const size_t colon = url.find(':'); colon != std::string_view::npos) {
      return make_error(ErrorCode::kInvalidArgument, "{}: unsupported URL scheme '{}'; send the image inline as a "
                        "data URI", what, std::string(url.substr(0, std::min<size_t>(colon, 16))));
    }
  }
  if (payload.empty()) return make_error(ErrorCode::kInvalidArgument, "{}: the image data is empty", what);
  auto bytes = base64_decode(payload);
  if (!bytes.ok()) return bytes.error().with_context(std::string(what));
  if (bytes.value().empty()) return make_error(ErrorCode::kInvalidArgument, "{}: the image data is empty", what);
  return bytes;
}

}  // namespace specula::server
