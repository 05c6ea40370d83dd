// A rate limiter for crypto requests, one per cluster, shared by every thread
// of the process. It is the generic cell rate algorithm (GCRA): the state is
// the theoretical arrival time (TAT) of the next request, next to the count
// of granted requests, and one atomic compare-and-swap updates both.
// Acquiring never blocks and never takes a lock.
#ifndef HSM_KMS_TOKEN_BUCKET_H_
#define HSM_KMS_TOKEN_BUCKET_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

namespace hsm_kms {

// Clocks a bucket can count time with. The values are stored in shared
// bucket files, so they must not change.
enum class TickSource : uint64_t {
  // clock_gettime(CLOCK_MONOTONIC), in nanoseconds since boot.
  kMonotonic = 1,
  // The x86-64 time-stamp counter, in cycles since CPU reset or VM start.
  kTsc = 2,
};

// Time in a bucket is counted in ticks, sixteenths of the clock's unit (a
// nanosecond or a TSC cycle), so that the interval between requests keeps 4
// fractional bits. Rounding the interval changes the rate by less than
// 1/(32 * clock units per request), which is 0.16 % at 1e8 requests/s on a
// 2 GHz TSC. 2^64 ticks last 36 years of CLOCK_MONOTONIC and 9 years of a
// 4 GHz TSC.
constexpr int kTickFractionBits = 4;

// The clock that a process reads for its buckets, and its rate.
struct TickClock {
  TickSource source;
  uint64_t ticks_per_second;
};

// Plain atomics only, so the state may also live in memory shared between
// processes. The TAT and the granted count come first and are 16-byte
// aligned, so that on x86-64 one CMPXCHG16B can update both.
struct alignas(16) TokenBucketState {
  std::atomic<uint64_t> theoretical_arrival{0};  // ticks
  std::atomic<uint64_t> granted{0};
  std::atomic<uint64_t> interval{0};             // ticks per request
  std::atomic<uint64_t> tolerance{0};            // ticks: burst * interval
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
  // file is created (mode 0600) when missing. Its header records the clock
  // source and rate of the first process to map it, and every later process
  // converts the rate and burst with that rate, so all of them compute the
  // same interval. Returns null and fills `error` when the file cannot be
  // created or mapped, or was made by a process with another clock source.
  // Times in the file count from the machine's boot (CLOCK_MONOTONIC) or
  // CPU reset (TSC), so the file also records the boot ID, and a file left
  // by an earlier boot starts again from a full bucket. NOTE: where the
  // kernel has no /proc/sys/kernel/random/boot_id (outside Linux), that
  // check is skipped, and a file kept across a reboot throttles until the
  // new clock passes the old TAT: keep it on a tmpfs there.
  static std::shared_ptr<TokenBucket> GetShared(const std::string& path,
                                                double requests_per_second,
                                                double burst,
                                                std::string* error);
  ~TokenBucket();

  // Sets the rate (requests per second, > 0) and the burst (requests that
  // may pass at once after an idle period, >= 1).
  void Configure(double requests_per_second, double burst);

  // Takes `count` requests' worth of capacity if it is there. Never blocks.
  // Reads the clock once (NowTicks) and updates the TAT and the granted
  // count with one CMPXCHG16B on x86-64 (elsewhere a compare-and-swap and an
  // atomic increment). It retries when another thread or process changes
  // them in between.
  bool TryAcquire(uint32_t count = 1);
  // The same at a given time, in ticks; for tests and benchmarks.
  bool TryAcquireAt(uint64_t now_ticks, uint32_t count);

  uint64_t granted() const { return state_->granted.load(std::memory_order_relaxed); }
  uint64_t rejected() const { return state_->rejected.load(std::memory_order_relaxed); }
  double requests_per_second() const { return requests_per_second_.load(); }
  double burst() const { return burst_.load(); }
  uint64_t interval_ticks() const { return state_->interval.load(std::memory_order_relaxed); }

  // Returns the clock of this process's buckets, chosen on the first call:
  // the TSC on x86-64 CPUs that report an invariant TSC (CPUID leaf
  // 0x80000007, EDX bit 8) where Linux also uses the TSC as its clock
  // source, else CLOCK_MONOTONIC. The first call measures the TSC's rate
  // against CLOCK_MONOTONIC and busy-waits for 2 ms to do so. Creating the
  // process's first bucket makes that call.
  static const TickClock& ProcessClock();
  // Returns the current time in ticks of ProcessClock().
  static uint64_t NowTicks();

 private:
  TokenBucketState local_state_;
  // The state in use: local_state_, or the mapped file of a shared bucket.
  TokenBucketState* state_ = &local_state_;
  // The rate of the clock that the state's times count: this process's, or
  // the one recorded in the shared file, which every process uses alike.
  uint64_t ticks_per_second_ = ProcessClock().ticks_per_second;
  void* mapping_ = nullptr;
  size_t mapping_size_ = 0;
  std::atomic<double> requests_per_second_{0};
  std::atomic<double> burst_{0};
};

}  // namespace hsm_kms

#endif  // HSM_KMS_TOKEN_BUCKET_H_
