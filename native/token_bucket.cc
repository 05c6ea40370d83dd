#include "token_bucket.h"

#include <time.h>

#include <cmath>
#include <map>
#include <mutex>

namespace hsm_kms {

std::shared_ptr<TokenBucket> TokenBucket::Get(const std::string& name,
                                              double requests_per_second,
                                              double burst) {
  static std::mutex mutex;
  static std::map<std::string, std::shared_ptr<TokenBucket>> buckets;
  std::lock_guard<std::mutex> lock(mutex);
  std::shared_ptr<TokenBucket>& bucket = buckets[name];
  if (!bucket) bucket = std::make_shared<TokenBucket>();
  bucket->Configure(requests_per_second, burst);
  return bucket;
}

void TokenBucket::Configure(double requests_per_second, double burst) {
  const double ticks_per_second = 1e9 * kTicksPerNanosecond;
  uint64_t interval = static_cast<uint64_t>(
      std::llround(ticks_per_second / requests_per_second));
  if (interval == 0) interval = 1;
  state_.interval.store(interval, std::memory_order_relaxed);
  state_.tolerance.store(
      static_cast<uint64_t>(std::llround(burst * static_cast<double>(interval))),
      std::memory_order_relaxed);
  requests_per_second_.store(requests_per_second);
  burst_.store(burst);
}

uint64_t TokenBucket::NowTicks() {
  timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (static_cast<uint64_t>(now.tv_sec) * 1000000000ULL +
          static_cast<uint64_t>(now.tv_nsec)) *
         kTicksPerNanosecond;
}

bool TokenBucket::TryAcquire(uint32_t count) {
  return TryAcquireAt(NowTicks(), count);
}

bool TokenBucket::TryAcquireAt(uint64_t now, uint32_t count) {
  const uint64_t interval = state_.interval.load(std::memory_order_relaxed);
  const uint64_t tolerance = state_.tolerance.load(std::memory_order_relaxed);
  // A request larger than the burst can never pass; checking it first also
  // keeps interval * count from overflowing.
  if (count == 0 || interval > tolerance / count) {
    state_.rejected.fetch_add(count, std::memory_order_relaxed);
    return false;
  }
  const uint64_t cost = interval * count;
  const uint64_t limit = now + tolerance;
  uint64_t arrival = state_.theoretical_arrival.load(std::memory_order_relaxed);
  while (true) {
    // An idle bucket has a TAT in the past; it restarts from now, which is
    // what caps the burst.
    uint64_t next = (arrival > now ? arrival : now) + cost;
    if (next > limit) {
      state_.rejected.fetch_add(count, std::memory_order_relaxed);
      return false;
    }
    if (state_.theoretical_arrival.compare_exchange_weak(
            arrival, next, std::memory_order_relaxed,
            std::memory_order_relaxed)) {
      state_.granted.fetch_add(count, std::memory_order_relaxed);
      return true;
    }
  }
}

}  // namespace hsm_kms
