#include "base/log.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>

namespace specula::log {
namespace {

std::atomic<int> g_level{static_cast<int>(Level::kInfo)};
std::atomic<int> g_format{static_cast<int>(Format::kText)};
std::mutex g_mutex;  // keeps lines from different threads whole

const char* level_name(Level level) {
  switch (level) {
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kWarn: return "warn";
    case Level::kError: return "error";
  }
  return "info";
}

std::string json_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
        } else {
          out += c;
        }
    }
  }
  return out;
}

}  // namespace

void set_options(const Options& options) {
  g_level.store(static_cast<int>(options.min_level));
  g_format.store(static_cast<int>(options.format));
}

Options options() {
  return Options{static_cast<Level>(g_level.load()), static_cast<Format>(g_format.load())};
}

void write(Level level, std::string_view message) {
  if (static_cast<int>(level) < g_level.load()) return;
  const auto now = std::chrono::system_clock::now();
  const double t = std::chrono::duration<double>(now.time_since_epoch()).count();
  std::string line;
  if (static_cast<Format>(g_format.load()) == Format::kJson) {
    line = fmt::format("{{\"t\":{:.3f},\"level\":\"{}\",\"msg\":\"{}\"}}\n", t, level_name(level),
                       json_escape(message));
  } else {
    line = fmt::format("[{}] {}\n", level_name(level), message);
  }
  std::lock_guard<std::mutex> lock(g_mutex);
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace specula::log
