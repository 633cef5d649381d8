#include "base/result.h"

#include <cstdio>
#include <cstdlib>

namespace specula {

const char* error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return "invalid_argument";
    case ErrorCode::kNotFound: return "not_found";
    case ErrorCode::kCorruptData: return "corrupt_data";
    case ErrorCode::kUnsupported: return "unsupported";
    case ErrorCode::kOutOfRange: return "out_of_range";
    case ErrorCode::kResourceExhausted: return "resource_exhausted";
    case ErrorCode::kIo: return "io";
    case ErrorCode::kInternal: return "internal";
    case ErrorCode::kUnauthorized: return "unauthorized";
    case ErrorCode::kCancelled: return "cancelled";
  }
  return "unknown";
}

const Error& Status::error() const {
  if (ok_) fatal_bad_result_access("error() on an ok Status");
  return error_;
}

void fatal_bad_result_access(const char* what) {
  std::fprintf(stderr, "specula: internal error: bad Result access (%s)\n", what);
  std::abort();
}

}  // namespace specula
