// Image payloads of requests: the `image_url.url` of an OpenAI content part (a data URI, or raw base64 as
// llama-server also takes) and the items of llama-server's `multimodal_data` -> the image file's bytes.
// Only inline data is accepted: the server never fetches a URL or reads a local file on a client's behalf.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace specula::server {

// `data:image/<subtype>[;param=value...];base64,<data>` (media type case-insensitive) or bare base64 ->
// the decoded bytes (not yet checked to be an image: the decoder does that). Errors (kInvalidArgument or
// kCorruptData, message names `what`): http(s) URLs (remote fetching is not supported), file:// URLs (local
// files are not served), any other scheme, a data URI that is not image/* or not base64, invalid base64
// (the strict decoder's message), an empty payload.
Result<std::vector<uint8_t>> image_bytes(std::string_view url, std::string_view what);

}  // namespace specula::server
