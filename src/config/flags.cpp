#include "config/flags.h"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>

namespace specula::config {

bool FlagValues::has(const std::string& name) const { return values_.count(name) != 0; }

std::optional<std::string> FlagValues::get(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end() || it->second.empty()) return std::nullopt;
  return it->second.back();
}

std::vector<std::string> FlagValues::all(const std::string& name) const {
  auto it = values_.find(name);
  return it == values_.end() ? std::vector<std::string>{} : it->second;
}

std::string FlagValues::spelled(const std::string& name) const {
  auto it = spelled_.find(name);
  return it == spelled_.end() ? name : it->second;
}

Result<std::optional<long long>> FlagValues::get_int(const std::string& name, long long min, long long max) const {
  auto v = get(name);
  if (!v) return std::optional<long long>{};
  errno = 0;
  char* end = nullptr;
  const long long x = std::strtoll(v->c_str(), &end, 10);
  if (v->empty() || *end != '\0' || errno == ERANGE) {
    return make_error(ErrorCode::kInvalidArgument, "{} expects an integer, got '{}'", spelled(name), *v);
  }
  if (x < min || x > max) {
    return make_error(ErrorCode::kInvalidArgument, "{} must be in [{}, {}], got {}", spelled(name), min, max, x);
  }
  return std::optional<long long>{x};
}

Result<std::optional<double>> FlagValues::get_double(const std::string& name, double min, double max) const {
  auto v = get(name);
  if (!v) return std::optional<double>{};
  char* end = nullptr;
  const double x = std::strtod(v->c_str(), &end);
  if (v->empty() || *end != '\0' || !std::isfinite(x)) {
    return make_error(ErrorCode::kInvalidArgument, "{} expects a number, got '{}'", spelled(name), *v);
  }
  if (x < min || x > max) {
    return make_error(ErrorCode::kInvalidArgument, "{} must be in [{}, {}], got {}", spelled(name), min, max, x);
  }
  return std::optional<double>{x};
}

FlagParser& FlagParser::add(FlagSpec spec) {
  specs_.push_back(std::move(spec));
  return *this;
}

FlagParser& FlagParser::allow_positionals(int max_positionals, std::string metavar) {
  max_positionals_ = max_positionals;
  positional_metavar_ = std::move(metavar);
  return *this;
}

std::string FlagParser::canonical(const FlagSpec& spec) {
  std::string best = spec.names.front();
  for (const auto& n : spec.names) {
    if (n.size() > best.size()) best = n;
  }
  return best;
}

const FlagSpec* FlagParser::find(const std::string& name) const {
  for (const auto& spec : specs_) {
    for (const auto& n : spec.names) {
      if (n == name) return &spec;
    }
  }
  return nullptr;
}

bool FlagParser::help_requested(const std::vector<std::string>& args) {
  for (const auto& a : args) {
    if (a == "--help" || a == "-h") return true;
  }
  return false;
}

Result<FlagValues> FlagParser::parse(const std::vector<std::string>& args) const {
  FlagValues out;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string arg = args[i];
    std::optional<std::string> inline_value;
    if (arg.size() > 1 && arg[0] == '-' && !(arg.size() > 1 && (std::isdigit(static_cast<unsigned char>(arg[1])) != 0))) {
      if (const auto eq = arg.find('='); eq != std::string::npos && arg.rfind("--", 0) == 0) {
        inline_value = arg.substr(eq + 1);
        arg = arg.substr(0, eq);
      }
      const FlagSpec* spec = find(arg);
      if (spec == nullptr) {
        return make_error(ErrorCode::kInvalidArgument, "unknown flag '{}' (specula {} --help lists the flags)", arg,
                          command_);
      }
      const std::string key = canonical(*spec);
      out.spelled_[key] = arg;
      if (spec->kind == FlagKind::kSwitch) {
        if (inline_value) return make_error(ErrorCode::kInvalidArgument, "flag '{}' takes no value", arg);
        out.values_[key].push_back("1");
        continue;
      }
      if (!inline_value) {
        if (i + 1 >= args.size()) return make_error(ErrorCode::kInvalidArgument, "flag '{}' needs a value", arg);
        inline_value = args[++i];
      }
      auto& slot = out.values_[key];
      if (spec->kind == FlagKind::kValue) slot.clear();
      slot.push_back(*inline_value);
      continue;
    }
    if (static_cast<int>(out.positionals_.size()) >= max_positionals_) {
      return make_error(ErrorCode::kInvalidArgument, "unexpected argument '{}'", arg);
    }
    out.positionals_.push_back(arg);
  }
  return out;
}

std::string FlagParser::help() const {
  std::string s = "usage: specula " + command_ + " " + usage_ + "\n\noptions:\n";
  for (const auto& spec : specs_) {
    std::string names;
    for (const auto& n : spec.names) names += (names.empty() ? "" : ", ") + n;
    if (spec.kind != FlagKind::kSwitch) names += " " + spec.metavar;
    s += "  " + names;
    s += std::string(names.size() < 34 ? 34 - names.size() : 1, ' ');
    s += spec.help;
    if (!spec.default_text.empty()) s += " (default: " + spec.default_text + ")";
    s += "\n";
  }
  s += "  -h, --help                        print this help\n";
  return s;
}

}  // namespace specula::config
