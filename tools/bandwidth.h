// Measures the machine's read bandwidth (GB/s) with the given pool: the roofline that `specula bench`
// reports speeds against.
#pragma once

#include "base/thread_pool.h"

namespace specula::tools {

// Streams a buffer of `bytes` (far larger than the last-level cache) several times and returns the best
// observed read rate in GB/s (1e9 bytes per second).
double measure_read_bandwidth_gbs(ThreadPool& pool, size_t bytes = size_t{512} << 20);

}  // namespace specula::tools
