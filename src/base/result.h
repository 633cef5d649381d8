// Result<T>: the value or the reason it could not be produced. Used for everything that crosses a trust
// boundary (flags, files, HTTP bodies, images). Internal invariants use SPECULA_CHECK instead.
#pragma once

#include <string>
#include <type_traits>
#include <utility>
#include <variant>

#include <fmt/format.h>

namespace specula {

// Coarse classes of failure; the server maps them to HTTP status codes.
enum class ErrorCode {
  kInvalidArgument,  // a flag, field or value the user gave is wrong (HTTP 400)
  kNotFound,         // a file, model, tensor or route does not exist (HTTP 404)
  kCorruptData,      // a file or payload is malformed or truncated (HTTP 400)
  kUnsupported,      // well-formed but not something specula can do (HTTP 400/501)
  kOutOfRange,       // a count or size exceeds a limit (context full, too big) (HTTP 400/413)
  kResourceExhausted,// memory, slots or queue exhausted (HTTP 503)
  kIo,               // the operating system refused (open, read, mmap)
  kInternal,         // a bug: should never reach a user
  kUnauthorized,     // bad or missing API key (HTTP 401)
  kCancelled,        // the client went away
};

const char* error_code_name(ErrorCode code);

class Error {
 public:
  Error(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // Prefixes context ("while loading X: ") so that a low-level reason reads well at the top.
  Error with_context(const std::string& context) const { return Error(code_, context + ": " + message_); }

 private:
  ErrorCode code_;
  std::string message_;
};

template <typename... Args>
Error make_error(ErrorCode code, fmt::format_string<Args...> format, Args&&... args) {
  return Error(code, fmt::format(format, std::forward<Args>(args)...));
}

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Error error) : state_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  bool ok() const { return state_.index() == 0; }
  explicit operator bool() const { return ok(); }

  // Accessors; calling value() on an error is a programming error (checked).
  T& value() &;
  const T& value() const&;
  T&& value() &&;
  const Error& error() const;

  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Error> state_;
};

// Result<void> equivalent.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT: implicit by design
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const;

 private:
  Error error_{ErrorCode::kInternal, ""};
  bool ok_ = true;
};

inline Status ok_status() { return Status(); }

[[noreturn]] void fatal_bad_result_access(const char* what);

template <typename T>
T& Result<T>::value() & {
  if (!ok()) fatal_bad_result_access(std::get<1>(state_).message().c_str());
  return std::get<0>(state_);
}
template <typename T>
const T& Result<T>::value() const& {
  if (!ok()) fatal_bad_result_access(std::get<1>(state_).message().c_str());
  return std::get<0>(state_);
}
template <typename T>
T&& Result<T>::value() && {
  if (!ok()) fatal_bad_result_access(std::get<1>(state_).message().c_str());
  return std::get<0>(std::move(state_));
}
template <typename T>
const Error& Result<T>::error() const {
  if (ok()) fatal_bad_result_access("error() on a value");
  return std::get<1>(state_);
}

}  // namespace specula

#define SPECULA_CONCAT_INNER(a, b) a##b
#define SPECULA_CONCAT(a, b) SPECULA_CONCAT_INNER(a, b)

// SPECULA_TRY(auto x, expr): evaluates a Result-returning expr; returns its Error from the enclosing
// function, else binds the value to the declaration.
#define SPECULA_TRY(decl, expr) SPECULA_TRY_IMPL(SPECULA_CONCAT(specula_try_, __LINE__), decl, expr)
#define SPECULA_TRY_IMPL(tmp, decl, expr) \
  auto tmp = (expr);                      \
  if (!tmp.ok()) return tmp.error();      \
  decl = std::move(tmp).value()

// SPECULA_RETURN_IF_ERROR(expr): for Status-returning expressions.
#define SPECULA_RETURN_IF_ERROR(expr)                          \
  do {                                                         \
    auto specula_status_ = (expr);                             \
    if (!specula_status_.ok()) return specula_status_.error(); \
  } while (0)
