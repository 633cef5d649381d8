#include "runtime/request.h"

#include "base/check.h"

namespace specula::runtime {

void RequestChannel::push(RequestEvent event) {
  {
    std::lock_guard lock(mu_);
    events_.push_back(std::move(event));
  }
  cv_.notify_one();
}

std::optional<RequestEvent> RequestChannel::pop(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  if (!cv_.wait_for(lock, timeout, [&] { return !events_.empty(); })) return std::nullopt;
  RequestEvent e = std::move(events_.front());
  events_.pop_front();
  return e;
}


uint64_t hash_image(const ImageEmbedding& image) {
  uint64_t h = 0xcbf29ce484222325ULL;
  const auto* bytes = reinterpret_cast<const uint8_t*>(image.embeds.data());
  const size_t n = image.embeds.size() * sizeof(float);
  for (size_t i = 0; i < n; ++i) {
    h ^= bytes[i];
    h *= 0x100000001b3ULL;
  }
  h ^= static_cast<uint64_t>(image.n_tokens);
  h *= 0x100000001b3ULL;
  return h;
}

Status attach_images(GenRequest& request, const ImageTokenIds& ids, std::vector<ImageEmbedding> images) {
  std::vector<uint64_t> hashes;
  for (const auto& img : images) hashes.push_back(hash_image(img));
  SPECULA_TRY(MultimodalPrompt mm, make_multimodal_prompt(request.prompt, ids, std::move(images)));
  request.image_spans.clear();
  size_t image = 0;
  for (size_t p = 0; p < mm.embeddings.size(); ++p) {
    if (mm.embeddings[p] == nullptr || (p > 0 && mm.embeddings[p - 1] != nullptr)) continue;
    size_t n = 0;
    while (p + n < mm.embeddings.size() && mm.embeddings[p + n] != nullptr) ++n;
    SPECULA_CHECK(image < hashes.size());
    request.image_spans.push_back({static_cast<int32_t>(p), static_cast<int32_t>(n), hashes[image++]});
  }
  request.prompt = std::move(mm.tokens);
  request.embeddings = std::move(mm.embeddings);
  request.images = std::move(mm.images);
  return ok_status();
}

std::vector<uint64_t> position_keys(std::span<const int32_t> tokens, std::span<const ImageSpan> spans) {
  std::vector<uint64_t> keys(tokens.size());
  for (size_t i = 0; i < keys.size(); ++i) keys[i] = static_cast<uint32_t>(tokens[i]);
  for (const ImageSpan& s : spans) {
    for (int32_t j = 0; j < s.n_tokens; ++j) {
      const size_t p = static_cast<size_t>(s.begin + j);
      if (p >= keys.size()) break;
      // Bit 63 set: never a token id. The offset is mixed in so that a block's positions differ from each other.
      keys[p] = (s.hash ^ (static_cast<uint64_t>(j + 1) * 0x9e3779b97f4a7c15ULL)) | (uint64_t{1} << 63);
    }
  }
  return keys;
}

size_t reusable_prefix(std::span<const uint64_t> cached, std::span<const uint64_t> tokens,
                       std::span<const ImageSpan> spans, size_t limit) {
  size_t n = 0;
  while (n < cached.size() && n < tokens.size() && n < limit && cached[n] == tokens[n]) ++n;
  for (const ImageSpan& s : spans) {
    const size_t boi = static_cast<size_t>(s.begin - 1), after_eoi = static_cast<size_t>(s.begin + s.n_tokens + 1);
    if (n > boi && n < after_eoi) return boi;
  }
  return n;
}

}  // namespace specula::runtime
