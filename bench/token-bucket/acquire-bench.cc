// acquire-bench: times hsm_kms::TokenBucket::TryAcquire from native code, on
// 1 or more threads sharing one bucket, to show the cost of the acquire
// itself without the JavaScript call around it.
//
// Usage: acquire-bench THREADS ITERATIONS
//
// Each thread first makes ITERATIONS calls of TryAcquire(), which reads the
// clock and updates the bucket. Then it makes ITERATIONS calls of
// TryAcquireAt() with a precomputed time, which leaves out the clock read,
// and last ITERATIONS calls of TokenBucket::NowTicks() alone. The clock is
// the one TokenBucket::ProcessClock() chose: the TSC (RDTSC) on x86-64 CPUs
// with an invariant TSC, else clock_gettime(CLOCK_MONOTONIC). The bucket is
// created, and the clock calibrated, before the timing starts. The bucket
// allows 1e9 requests/s with a burst of 1e9, so every call takes the
// granting path: one CMPXCHG16B of the bucket's TAT and granted count on
// x86-64 (elsewhere a compare-and-swap and an atomic increment). Prints one
// JSON line with the clock and the nanoseconds per call of each thread.
//
// Build (bench/token-bucket/native-acquire.ts does this):
//   c++ -std=c++20 -O2 -pthread -o acquire-bench acquire-bench.cc ../../native/token_bucket.cc
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "../../native/token_bucket.h"

namespace {

struct ThreadTiming {
  double acquire_ns = 0;
  double acquire_at_ns = 0;
  double clock_ns = 0;
  uint64_t granted = 0;
};

// Keeps the compiler from dropping calls whose result is unused.
std::atomic<uint64_t> sink{0};

double NanosecondsPerCall(std::chrono::steady_clock::time_point start, uint64_t calls) {
  auto elapsed = std::chrono::steady_clock::now() - start;
  return static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count()) /
         static_cast<double>(calls);
}

void Run(hsm_kms::TokenBucket* bucket, uint64_t iterations, std::atomic<int>* gate,
         ThreadTiming* timing) {
  while (gate->load(std::memory_order_acquire) == 0) {
  }
  uint64_t granted = 0;
  auto start = std::chrono::steady_clock::now();
  for (uint64_t i = 0; i < iterations; i++) granted += bucket->TryAcquire() ? 1 : 0;
  timing->acquire_ns = NanosecondsPerCall(start, iterations);

  // Time advances by one interval (a nanosecond at 1e9 requests/s) per
  // call, as if the clock had been read, so every call is still granted.
  uint64_t now = hsm_kms::TokenBucket::NowTicks();
  const uint64_t interval = bucket->interval_ticks();
  start = std::chrono::steady_clock::now();
  for (uint64_t i = 0; i < iterations; i++) {
    granted += bucket->TryAcquireAt(now + i * interval, 1) ? 1 : 0;
  }
  timing->acquire_at_ns = NanosecondsPerCall(start, iterations);

  uint64_t ticks = 0;
  start = std::chrono::steady_clock::now();
  for (uint64_t i = 0; i < iterations; i++) ticks += hsm_kms::TokenBucket::NowTicks();
  timing->clock_ns = NanosecondsPerCall(start, iterations);

  timing->granted = granted;
  sink.fetch_add(granted + ticks, std::memory_order_relaxed);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: acquire-bench THREADS ITERATIONS\n");
    return 2;
  }
  long threads = std::strtol(argv[1], nullptr, 10);
  long long iterations = std::strtoll(argv[2], nullptr, 10);
  if (threads < 1 || threads > 64 || iterations < 1) {
    std::fprintf(stderr, "acquire-bench: THREADS must be 1 to 64 and ITERATIONS at least 1\n");
    return 2;
  }

  auto bucket = hsm_kms::TokenBucket::Get("acquire-bench", 1e9, 1e9);
  std::atomic<int> gate{0};
  std::vector<ThreadTiming> timings(static_cast<size_t>(threads));
  std::vector<std::thread> workers;
  for (long t = 0; t < threads; t++) {
    workers.emplace_back(Run, bucket.get(), static_cast<uint64_t>(iterations), &gate, &timings[static_cast<size_t>(t)]);
  }
  gate.store(1, std::memory_order_release);
  for (auto& worker : workers) worker.join();

  const char* clock = hsm_kms::TokenBucket::ProcessClock().source == hsm_kms::TickSource::kTsc
                          ? "tsc"
                          : "monotonic";
  std::printf("{\"threads\":%ld,\"iterations\":%lld,\"clock\":\"%s\",\"tryAcquireNs\":[", threads,
              iterations, clock);
  for (size_t t = 0; t < timings.size(); t++) std::printf("%s%.2f", t ? "," : "", timings[t].acquire_ns);
  std::printf("],\"tryAcquireAtNs\":[");
  for (size_t t = 0; t < timings.size(); t++) std::printf("%s%.2f", t ? "," : "", timings[t].acquire_at_ns);
  std::printf("],\"clockNs\":[");
  for (size_t t = 0; t < timings.size(); t++) std::printf("%s%.2f", t ? "," : "", timings[t].clock_ns);
  std::printf("],\"granted\":%llu,\"rejected\":%llu}\n", static_cast<unsigned long long>(bucket->granted()),
              static_cast<unsigned long long>(bucket->rejected()));
  return 0;
}
