// libFuzzer target for GgufFile::parse. Properties checked on every input:
//  - parsing never crashes, leaks or hits undefined behaviour (the sanitizers report those);
//  - an error is of a content class (kCorruptData/kUnsupported) and its message is one line;
//  - a file that parses describes only bytes inside the input, and when GgufWriter accepts its contents,
//    writing them out and parsing again gives the same metadata and tensors.
// `gguf_fuzz --write-seeds=DIR` writes seed files made by GgufWriter and exits (libFuzzer passes
// arguments starting with "--" through to the target).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "format/gguf_reader.h"
#include "format/gguf_writer.h"

namespace {

using specula::ErrorCode;
using specula::format::GgmlType;
using specula::format::GgufArray;
using specula::format::GgufFile;
using specula::format::GgufType;
using specula::format::GgufValue;
using specula::format::GgufWriter;

[[noreturn]] void die(const char* what, const std::string& detail) {
  std::fprintf(stderr, "gguf_fuzz property violated: %s: %s\n", what, detail.c_str());
  std::abort();
}

bool same_value(const GgufValue& a, const GgufValue& b) {
  if (a.type != b.type || a.data.index() != b.data.index()) return false;
  if (const auto* d = std::get_if<double>(&a.data)) {
    return std::memcmp(d, &std::get<double>(b.data), sizeof(double)) == 0;  // bitwise: NaNs too
  }
  if (const auto* arr = std::get_if<GgufArray>(&a.data)) {
    const auto& brr = std::get<GgufArray>(b.data);
    if (arr->element_type != brr.element_type || arr->items.size() != brr.items.size()) return false;
    for (size_t i = 0; i < arr->items.size(); ++i) {
      if (!same_value(arr->items[i], brr.items[i])) return false;
    }
    return true;
  }
  if (const auto* u = std::get_if<uint64_t>(&a.data)) return *u == std::get<uint64_t>(b.data);
  if (const auto* i = std::get_if<int64_t>(&a.data)) return *i == std::get<int64_t>(b.data);
  if (const auto* t = std::get_if<bool>(&a.data)) return *t == std::get<bool>(b.data);
  return std::get<std::string>(a.data) == std::get<std::string>(b.data);
}

// Rewrites a parsed file with GgufWriter and checks that it reads back the same. Contents the writer
// refuses (e.g. zero dimensions or names too long for llama.cpp) are skipped.
void check_round_trip(const GgufFile& f) {
  GgufWriter w;
  for (const auto& [key, value] : f.metadata()) {
    if (!w.set(key, value).ok()) return;
  }
  for (const auto& t : f.tensors()) {
    if (!w.add_tensor(t.name, t.type, t.dims, f.tensor_data(t)).ok()) return;
  }
  const std::vector<uint8_t> bytes = w.serialize();
  auto again = GgufFile::parse(bytes, "rewritten");
  if (!again.ok()) die("rewritten file does not parse", again.error().message());
  const GgufFile& g = again.value();
  if (g.metadata().size() != f.metadata().size() || g.tensors().size() != f.tensors().size()) {
    die("rewritten file differs", "counts");
  }
  for (size_t i = 0; i < f.metadata().size(); ++i) {
    if (g.metadata()[i].first != f.metadata()[i].first || !same_value(g.metadata()[i].second, f.metadata()[i].second)) {
      die("rewritten metadata differs", f.metadata()[i].first);
    }
  }
  for (size_t i = 0; i < f.tensors().size(); ++i) {
    const auto& a = f.tensors()[i];
    const auto& b = g.tensors()[i];
    const auto da = f.tensor_data(a);
    const auto db = g.tensor_data(b);
    if (a.name != b.name || a.type != b.type || a.dims != b.dims || da.size() != db.size() ||
        (!da.empty() && std::memcmp(da.data(), db.data(), da.size()) != 0)) {
      die("rewritten tensor differs", a.name);
    }
  }
}

void check_parsed(const GgufFile& f, size_t size) {
  if (f.data_offset() > size) die("data offset past the end", std::to_string(f.data_offset()));
  for (const auto& t : f.tensors()) {
    if (f.data_offset() + t.offset + t.n_bytes > size) die("tensor past the end", t.name);
    (void)t.rows();
    (void)t.shape_string();
  }
  for (const auto& [key, value] : f.metadata()) {
    const std::string shown = value.to_display();
    if (shown.find('\n') != std::string::npos) die("display has a newline", key);
  }
  (void)f.architecture();
  check_round_trip(f);
}

void write_seed(const std::string& dir, const std::string& name, const GgufWriter& w) {
  const auto st = w.write(dir + "/" + name);
  if (!st.ok()) die("cannot write seed", st.error().message());
}

void write_seeds(const std::string& dir) {
  using V = GgufValue;
  for (const uint32_t alignment : {32u, 64u, 8u}) {
    GgufWriter w;
    bool ok = w.set_string("general.architecture", "gemma4").ok() && w.set_u32("gemma4.block_count", 2).ok() &&
              w.set_f32("gemma4.rope.freq_base", 1e6f).ok() && w.set_i8("s.i8", -3).ok() &&
              w.set_u16("s.u16", 7).ok() && w.set_i16("s.i16", -7).ok() && w.set_u64("s.u64", 1ull << 40).ok() &&
              w.set_i64("s.i64", -5).ok() && w.set_f64("s.f64", 0.5).ok() && w.set_bool("s.b", true).ok() &&
              w.set_u8("s.u8", 9).ok() && w.set_i32("s.i32", -9).ok() &&
              w.set_array("tokenizer.ggml.tokens", std::vector<std::string>{"<pad>", "<eos>", "<bos>", "a", "b"}).ok() &&
              w.set_array("tokenizer.ggml.token_type", std::vector<int32_t>{3, 3, 3, 1, 1}).ok() &&
              w.set_array("a.bool", std::vector<bool>{true, false}).ok() &&
              w.set("n.nested", V::array(GgufType::kArray, {V::array_of(std::vector<uint8_t>{1, 2}),
                                                            V::array_of(std::vector<std::string>{"x"})})).ok();
    if (alignment != 32) ok = ok && w.set_alignment(alignment).ok();
    static const std::vector<uint8_t> kBytes(512, 0x3c);
    ok = ok && w.add_tensor("token_embd.weight", GgmlType::kF16, {4, 5}, std::span(kBytes).first(40)).ok() &&
         w.add_tensor("blk.0.attn_q.weight", GgmlType::kQ8_0, {32, 2}, std::span(kBytes).first(68)).ok() &&
         w.add_tensor("blk.0.ffn_up.weight", GgmlType::kQ4_K, {256}, std::span(kBytes).first(144)).ok() &&
         w.add_tensor("output_norm.weight", GgmlType::kF32, {4}, std::span(kBytes).first(16)).ok();
    if (!ok) die("seed writer refused its input", "");
    write_seed(dir, "writer-" + std::to_string(alignment) + ".gguf", w);
  }
  GgufWriter empty;
  write_seed(dir, "writer-empty.gguf", empty);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  constexpr std::string_view kFlag = "--write-seeds=";
  for (int i = 1; i < *argc; ++i) {
    const std::string_view arg = (*argv)[i];
    if (arg.substr(0, kFlag.size()) == kFlag) {
      write_seeds(std::string(arg.substr(kFlag.size())));
      std::exit(0);
    }
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto r = GgufFile::parse(std::span<const uint8_t>(data, size), "fuzz.gguf");
  if (r.ok()) {
    check_parsed(r.value(), size);
    return 0;
  }
  const auto& e = r.error();
  if (e.code() != ErrorCode::kCorruptData && e.code() != ErrorCode::kUnsupported) die("error class", e.message());
  if (e.message().find_first_of("\r\n") != std::string::npos) die("multi-line error", e.message());
  return 0;
}
