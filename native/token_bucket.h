// A rate limiter for crypto requests, one per cluster, shared by every thread
// of the process. It is the generic cell rate algorithm (GCRA): the whole
// state is one 64-bit word, the theoretical arrival time (TAT) of the next
// request, updated with compare-and-swap. Acquiring never blocks and never
// takes a lock.
#ifndef HSM_KMS_TOKEN_BUCKET_H_
#define HSM_KMS_TOKEN_BUCKET_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

namespace hsm_kms {

// Time in the bucket is counted in sixteenths of a nanosecond, so that the
// interval between requests keeps 4 fractional bits (for 1,800 requests/s
// the error is below 1e-10 of the rate). 2^64 such units last 36 years of
// CLOCK_MONOTONIC, which counts from boot.
constexpr uint64_t kTicksPerNanosecond = 16;

// Plain atomics only, so the state may also live in memory shared between
// processes.
struct TokenBucketState {
  std::atomic<uint64_t> theoretical_arrival{0};  // ticks
  std::atomic<uint64_t> interval{0};             // ticks per request
  std::atomic<uint64_t> tolerance{0};            // ticks: burst * interval
  std::atomic<uint64_t> granted{0};
  std::atomic<uint64_t> rejected{0};
};

static_assert(std::atomic<uint64_t>::is_always_lock_free,
              "the bucket must work in memory shared between processes");

class TokenBucket {
 public:
  // Returns the process-wide bucket called `name`, created with the given
  // rate and burst, or updated to them when it exists.
  static std::shared_ptr<TokenBucket> Get(const std::string& name,
                                          double requests_per_second,
                                          double burst);

  // Returns a bucket whose state lives in the file `path`, mapped into
  // memory, so every process that maps the same file shares one rate. The
  // file is created (mode 0600) when missing. Returns null and fills
  // `error` when the file cannot be created or mapped.
  static std::shared_ptr<TokenBucket> GetShared(const std::string& path,
                                                double requests_per_second,
                                                double burst,
                                                std::string* error);
  ~TokenBucket();

  // Sets the rate (requests per second, > 0) and the burst (requests that
  // may pass at once after an idle period, >= 1).
  void Configure(double requests_per_second, double burst);

  // Takes `count` requests' worth of capacity if it is there. Never blocks.
  bool TryAcquire(uint32_t count = 1);
  // The same at a given time, in ticks; for tests and benchmarks.
  bool TryAcquireAt(uint64_t now_ticks, uint32_t count);

  uint64_t granted() const { return state_->granted.load(std::memory_order_relaxed); }
  uint64_t rejected() const { return state_->rejected.load(std::memory_order_relaxed); }
  double requests_per_second() const { return requests_per_second_.load(); }
  double burst() const { return burst_.load(); }

  static uint64_t NowTicks();

 private:
  TokenBucketState local_state_;
  // The state in use: local_state_, or the mapped file of a shared bucket.
  TokenBucketState* state_ = &local_state_;
  void* mapping_ = nullptr;
  size_t mapping_size_ = 0;
  std::atomic<double> requests_per_second_{0};
  std::atomic<double> burst_{0};
};

}  // namespace hsm_kms

#endif  // HSM_KMS_TOKEN_BUCKET_H_
