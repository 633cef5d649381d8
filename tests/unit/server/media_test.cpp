// Image payloads of requests (server/media.h) and the prompt-cache identity of image positions
// (runtime/request.h): data URIs, bare base64, refused URL kinds, position keys and reusable prefixes.
#include <gtest/gtest.h>

#include "runtime/request.h"
#include "server/media.h"

namespace specula::server {
namespace {

std::string error_of(std::string_view url) {
  auto r = image_bytes(url, "part");
  EXPECT_FALSE(r.ok()) << url;
  return r.ok() ? std::string() : r.error().message();
}

TEST(Media, DataUrisAndBareBase64) {
  const std::vector<uint8_t> foo = {'f', 'o', 'o'};
  for (const char* url : {"data:image/png;base64,Zm9v", "DATA:Image/JPEG;base64,Zm9v", "data:image/webp;name=x.webp;base64,Zm9v",
                          "Zm9v"}) {
    auto r = image_bytes(url, "part");
    ASSERT_TRUE(r.ok()) << url << ": " << r.error().message();
    EXPECT_EQ(r.value(), foo);
  }
}

TEST(Media, RefusesWhatIsNotInlineImageData) {
  EXPECT_NE(error_of("https://example.com/cat.png").find("remote image URLs are not supported"), std::string::npos);
  EXPECT_NE(error_of("HTTP://example.com/cat.png").find("remote"), std::string::npos);
  EXPECT_NE(error_of("file:///etc/passwd").find("file://"), std::string::npos);
  EXPECT_NE(error_of("ftp://host/x.png").find("scheme 'ftp'"), std::string::npos);
  EXPECT_NE(error_of("data:text/plain;base64,Zm9v").find("image/*"), std::string::npos);
  EXPECT_NE(error_of("data:image/png,rawbytes").find("base64"), std::string::npos);
  EXPECT_NE(error_of("data:image/png;base64").find("','"), std::string::npos);
  EXPECT_NE(error_of("data:image/png;base64,").find("empty"), std::string::npos);
  EXPECT_NE(error_of("").find("empty"), std::string::npos);
  EXPECT_NE(error_of("data:image/png;base64,Zm9v!").find("invalid base64"), std::string::npos);
  EXPECT_EQ(error_of("data:image/png;base64,Zm 9v").rfind("part: ", 0), 0u);  // names the part
}

TEST(ImageSpans, PositionKeysSeparateImagesAndOffsets) {
  using runtime::ImageSpan;
  const std::vector<int32_t> tokens = {2, 7, 4, 0, 0, 0, 5, 9};  // <|image> = 4, soft tokens (pad 0), <image|> = 5
  const std::vector<ImageSpan> a = {{3, 3, 111}}, b = {{3, 3, 222}};
  const auto ka = runtime::position_keys(tokens, a), kb = runtime::position_keys(tokens, b);
  ASSERT_EQ(ka.size(), tokens.size());
  for (size_t i : {0u, 1u, 2u, 6u, 7u}) EXPECT_EQ(ka[i], static_cast<uint64_t>(tokens[i]));
  EXPECT_NE(ka[3], ka[4]);                     // offsets differ inside a block
  for (size_t i = 3; i < 6; ++i) EXPECT_NE(ka[i], kb[i]);  // another image
  EXPECT_NE(ka[3], 0u);
  // Reuse stops before <|image> when the images differ, covers everything when they are equal, and never ends
  // inside a block (a limit inside the block moves back to its <|image>).
  EXPECT_EQ(runtime::reusable_prefix(ka, kb, b, 100), 2u);
  EXPECT_EQ(runtime::reusable_prefix(ka, ka, a, 100), tokens.size());
  EXPECT_EQ(runtime::reusable_prefix(ka, ka, a, 7), 7u);
  EXPECT_EQ(runtime::reusable_prefix(ka, ka, a, 6), 2u);
  EXPECT_EQ(runtime::reusable_prefix(ka, ka, a, 4), 2u);
  EXPECT_EQ(runtime::reusable_prefix(ka, ka, a, 2), 2u);
}

runtime::GenRequest request(std::vector<int32_t> prompt) {
  return {std::move(prompt), runtime::SamplerConfig::create(runtime::SamplerParams{}, 16).value(),
          runtime::StopConfig::create(runtime::StopParams{}).value(), -1, true, false, nullptr, {}, {}, {}};
}

TEST(ImageSpans, AttachImagesExpandsPlaceholdersInOrder) {
  const runtime::ImageTokenIds ids{4, 6, 5};
  runtime::GenRequest r = request({2, 6, 9, 6, 3});  // two placeholders
  std::vector<runtime::ImageEmbedding> images = {{2, std::vector<float>(2 * 4, 1.0f)},
                                                 {1, std::vector<float>(1 * 4, 2.0f)}};
  ASSERT_TRUE(runtime::attach_images(r, ids, images).ok());
  EXPECT_EQ(r.prompt, (std::vector<int32_t>{2, 4, 0, 0, 5, 9, 4, 0, 5, 3}));
  ASSERT_EQ(r.image_spans.size(), 2u);
  EXPECT_EQ(r.image_spans[0].begin, 2);
  EXPECT_EQ(r.image_spans[0].n_tokens, 2);
  EXPECT_EQ(r.image_spans[1].begin, 7);
  EXPECT_EQ(r.image_spans[1].n_tokens, 1);
  EXPECT_NE(r.image_spans[0].hash, r.image_spans[1].hash);
  EXPECT_EQ(r.image_spans[0].hash, runtime::hash_image(images[0]));
  ASSERT_EQ(r.embeddings.size(), r.prompt.size());
  EXPECT_EQ(r.embeddings[3], r.images[0].embeds.data() + 4);
  EXPECT_EQ(r.embeddings[4], nullptr);
  runtime::GenRequest extra = request({2, 6, 6});  // more placeholders than images
  EXPECT_FALSE(runtime::attach_images(extra, ids, {images[0]}).ok());
}

}  // namespace
}  // namespace specula::server
