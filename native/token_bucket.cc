#include "token_bucket.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__)
#include <cpuid.h>
#include <x86intrin.h>
#endif

#include <cerrno>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <map>
#include <mutex>

namespace hsm_kms {

namespace {

constexpr uint64_t kNanosecondsPerSecond = 1000000000;

uint64_t MonotonicNanoseconds() {
  timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<uint64_t>(now.tv_sec) * kNanosecondsPerSecond +
         static_cast<uint64_t>(now.tv_nsec);
}

#if defined(__x86_64__)

// How long the TSC's rate is measured against CLOCK_MONOTONIC. Each end of
// the measurement is off by at most the time between the TSC readings
// around it (tens of nanoseconds), so the rate is off by at most about
// 5e-5. Nine calibrations on a 2.6 GHz KVM guest spread over 2.4e-6.
constexpr uint64_t kCalibrationNanoseconds = 2000000;

// A TSC beyond this count is not used: the ticks could overflow before the
// process has run as long as the TSC has counted so far.
constexpr uint64_t kMaxStartingTsc = (UINT64_MAX >> kTickFractionBits) / 2;

// Returns whether the TSC counts at a constant rate in every power state:
// EDX bit 8 of CPUID leaf 0x80000007.
bool HasInvariantTsc() {
  unsigned eax, ebx, ecx, edx;
  // __get_cpuid returns 0 when the CPU has no such leaf.
  if (__get_cpuid(0x80000007, &eax, &ebx, &ecx, &edx) == 0) return false;
  return (edx & (1u << 8)) != 0;
}

// A TSC reading and a CLOCK_MONOTONIC reading of the same moment.
struct ClockPair {
  uint64_t tsc;
  uint64_t nanoseconds;
};

// Reads both clocks a few times and keeps the pair whose TSC readings
// enclose the clock_gettime call most tightly, so that an interrupt in one
// attempt does not skew the pair.
ClockPair ReadClockPair() {
  ClockPair best{0, 0};
  uint64_t best_width = UINT64_MAX;
  for (int attempt = 0; attempt < 5; attempt++) {
    // The fences keep each RDTSC in program order with the clock_gettime
    // call between them.
    _mm_lfence();
    uint64_t before = __rdtsc();
    _mm_lfence();
    uint64_t nanoseconds = MonotonicNanoseconds();
    _mm_lfence();
    uint64_t after = __rdtsc();
    _mm_lfence();
    if (after - before < best_width) {
      best_width = after - before;
      best = {before + best_width / 2, nanoseconds};
    }
  }
  return best;
}

// Returns the TSC's rate in ticks per second, measured against
// CLOCK_MONOTONIC, or 0 when the TSC cannot serve as the clock.
uint64_t MeasureTscTicksPerSecond() {
  ClockPair start = ReadClockPair();
  if (start.tsc > kMaxStartingTsc) return 0;
  ClockPair end;
  do {
    end = ReadClockPair();
  } while (end.nanoseconds - start.nanoseconds < kCalibrationNanoseconds);
  if (end.tsc <= start.tsc) return 0;

  double cycles_per_second =
      static_cast<double>(end.tsc - start.tsc) * 1e9 /
      static_cast<double>(end.nanoseconds - start.nanoseconds);
  return static_cast<uint64_t>(
      std::llround(std::ldexp(cycles_per_second, kTickFractionBits)));
}

#endif  // defined(__x86_64__)

// Returns false when Linux reports a clock source other than the TSC, as it
// does after finding the TSC unreliable on this machine (on some virtual
// machines, for example) even though the CPU reports it invariant. Where the
// file cannot be read, only the CPU's report counts.
bool KernelTrustsTsc() {
  char name[32] = {};
  int fd = open("/sys/devices/system/clocksource/clocksource0/current_clocksource",
                O_RDONLY | O_CLOEXEC);
  if (fd < 0) return true;
  ssize_t length = read(fd, name, sizeof(name) - 1);
  close(fd);
  return length <= 0 || std::strncmp(name, "tsc", 3) == 0;
}

TickClock ChooseTickClock() {
#if defined(__x86_64__)
  if (HasInvariantTsc() && KernelTrustsTsc()) {
    uint64_t ticks_per_second = MeasureTscTicksPerSecond();
    if (ticks_per_second != 0) return {TickSource::kTsc, ticks_per_second};
  }
#endif
  return {TickSource::kMonotonic, kNanosecondsPerSecond << kTickFractionBits};
}

#if defined(__x86_64__)

// Whether the CPU has CMPXCHG16B: ECX bit 13 of CPUID leaf 1. Some of the
// earliest x86-64 CPUs lack it.
const bool kHasCompareExchange16 = [] {
  unsigned eax, ebx, ecx, edx;
  return __get_cpuid(1, &eax, &ebx, &ecx, &edx) != 0 && (ecx & bit_CMPXCHG16B) != 0;
}();

#endif

// Stores `next_arrival` as the TAT and adds `count` to the granted count if
// the TAT still equals `arrival` and, where CMPXCHG16B is used, the count
// still equals `granted`. Otherwise loads the current values into `arrival`
// and `granted` and returns false. Both ways are atomic on the same words,
// so processes that share a file may use different ones.
bool CompareExchangeGrant(TokenBucketState& state, uint64_t& arrival,
                          [[maybe_unused]] uint64_t& granted, uint64_t next_arrival,
                          uint32_t count) {
#if defined(__x86_64__)
  if (kHasCompareExchange16) {
    // One locked instruction in place of a compare-and-swap and an atomic
    // increment, which cost about 3 ns more per grant in acquire-bench (one
    // thread, 2.6 GHz KVM guest). The instruction writes the two
    // std::atomic words directly, which the "memory" clobber declares to
    // the compiler.
    bool exchanged;
    asm volatile("lock cmpxchg16b %1"
                 : "=@ccz"(exchanged), "+m"(state), "+a"(arrival), "+d"(granted)
                 : "b"(next_arrival), "c"(granted + count)
                 : "memory");
    return exchanged;
  }
#endif
  if (!state.theoretical_arrival.compare_exchange_weak(
          arrival, next_arrival, std::memory_order_relaxed,
          std::memory_order_relaxed)) {
    return false;
  }
  state.granted.fetch_add(count, std::memory_order_relaxed);
  return true;
}

}  // namespace

const TickClock& TokenBucket::ProcessClock() {
  static const TickClock clock = ChooseTickClock();
  return clock;
}

uint64_t TokenBucket::NowTicks() {
#if defined(__x86_64__)
  // RDTSC without a fence may read the counter some tens of cycles early or
  // late against the instructions around it. That adds at most as much to
  // the burst and does not change the rate.
  if (ProcessClock().source == TickSource::kTsc) {
    return __rdtsc() << kTickFractionBits;
  }
#endif
  return MonotonicNanoseconds() << kTickFractionBits;
}

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

namespace {

// Layout of a shared bucket file. The magic number marks a file that
// contains a bucket in this layout. A new file is all zeros, which is a
// valid empty state. Each process that maps it checks and fills the header
// while it holds an flock on the file (CheckHeader), so the first process's
// values remain, and a file left by an earlier boot is reset once.
constexpr uint64_t kSharedMagic = 0x68736d6b6d736232ULL;  // "hsmkmsb2"
// The magic number of the earlier layout, whose times were always
// sixteenths of a CLOCK_MONOTONIC nanosecond and whose header had no clock.
constexpr uint64_t kSharedMagicWithoutClock = 0x68736d6b6d736231ULL;  // "hsmkmsb1"

struct SharedBucketFile {
  std::atomic<uint64_t> magic;
  std::atomic<uint64_t> tick_source;       // a TickSource
  std::atomic<uint64_t> ticks_per_second;  // the clock's rate
  std::atomic<uint64_t> boot_id;           // BootId() of the boot the times count from
  TokenBucketState state;
};

// mmap returns page-aligned memory, so the state is as aligned in memory as
// its offset in the file.
static_assert(offsetof(SharedBucketFile, state) % alignof(TokenBucketState) == 0);

// Returns the value of a header field: the one already in the file, or
// `value` after storing it when the field is still zero.
uint64_t AdoptHeaderField(std::atomic<uint64_t>& field, uint64_t value) {
  uint64_t existing = 0;
  return field.compare_exchange_strong(existing, value) ? value : existing;
}

const char* TickSourceName(uint64_t source) {
  switch (static_cast<TickSource>(source)) {
    case TickSource::kMonotonic:
      return "CLOCK_MONOTONIC";
    case TickSource::kTsc:
      return "the TSC";
  }
  return "an unknown clock";
}

// Returns a 64-bit hash of this boot's ID (/proc/sys/kernel/random/boot_id),
// never 0, or 0 where the kernel does not provide it.
uint64_t BootId() {
  static const uint64_t boot_id = [] {
    char text[64] = {};
    int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return uint64_t{0};
    ssize_t length = read(fd, text, sizeof(text) - 1);
    close(fd);
    if (length <= 0) return uint64_t{0};
    // FNV-1a: any stable hash will do, the value is only compared.
    uint64_t hash = 14695981039346656037ULL;
    for (ssize_t i = 0; i < length; ++i) {
      hash = (hash ^ static_cast<unsigned char>(text[i])) * 1099511628211ULL;
    }
    return hash == 0 ? uint64_t{1} : hash;
  }();
  return boot_id;
}

// Checks the header of a mapped bucket file and fills in what is missing.
// The caller holds an exclusive flock on the file. Times in the file count
// from boot (CLOCK_MONOTONIC) or CPU reset (TSC), so a file written during
// an earlier boot has a TAT that may lie days ahead of the new clock. Such a
// file is reset: it starts again from a full bucket, with this process's
// clock. Returns the clock rate recorded in the file, or 0 after filling
// `error`.
uint64_t CheckHeader(SharedBucketFile* file, const std::string& path, std::string* error) {
  uint64_t magic = AdoptHeaderField(file->magic, kSharedMagic);
  if (magic == kSharedMagicWithoutClock) {
    *error = path + " contains a rate limit of an earlier hsm-kms version; stop the processes that use it, then remove it";
    return 0;
  }
  if (magic != kSharedMagic) {
    *error = path + " exists but does not hold an hsm-kms rate limit; remove it or choose another path";
    return 0;
  }

  const TickClock& clock = TokenBucket::ProcessClock();
  const uint64_t own_source = static_cast<uint64_t>(clock.source);
  const uint64_t boot_id = BootId();
  uint64_t file_boot_id = AdoptHeaderField(file->boot_id, boot_id);
  if (boot_id != 0 && file_boot_id != boot_id) {
    file->state.theoretical_arrival.store(0);
    file->tick_source.store(own_source);
    file->ticks_per_second.store(clock.ticks_per_second);
    file->boot_id.store(boot_id);
  }

  uint64_t source = AdoptHeaderField(file->tick_source, own_source);
  if (source != own_source) {
    *error = path + " counts time with " + TickSourceName(source) + " but this process reads " +
             TickSourceName(own_source) + "; choose another path";
    return 0;
  }
  return AdoptHeaderField(file->ticks_per_second, clock.ticks_per_second);
}

// Opens or creates `path`, maps its first `size` bytes and checks its
// header (CheckHeader) under an exclusive flock, so that processes opening
// the file at once see one consistent header. Returns the mapping and the
// file's clock rate, or null after filling `error`.
void* OpenBucketFile(const std::string& path, size_t size, uint64_t* ticks_per_second,
                     std::string* error) {
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    *error = "cannot open " + path + ": " + std::strerror(errno);
    return nullptr;
  }
  if (flock(fd, LOCK_EX) != 0) {
    *error = "cannot lock " + path + ": " + std::strerror(errno);
    close(fd);
    return nullptr;
  }
  struct stat info;
  // Growing a new file to the bucket's size leaves it zero-filled.
  bool sized = fstat(fd, &info) == 0 &&
               (static_cast<size_t>(info.st_size) >= size ||
                ftruncate(fd, static_cast<off_t>(size)) == 0);
  void* mapping = sized ? mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
                        : MAP_FAILED;
  if (mapping == MAP_FAILED) {
    *error = "cannot map " + path + ": " + std::strerror(errno);
    close(fd);  // with no mapping, closing releases the lock
    return nullptr;
  }
  *ticks_per_second = CheckHeader(static_cast<SharedBucketFile*>(mapping), path, error);
  // The mapping keeps the open file alive after close(), and with it the
  // lock, so the lock is released explicitly.
  flock(fd, LOCK_UN);
  close(fd);
  if (*ticks_per_second == 0) {
    munmap(mapping, size);
    return nullptr;
  }
  return mapping;
}

}  // namespace

std::shared_ptr<TokenBucket> TokenBucket::GetShared(const std::string& path,
                                                    double requests_per_second,
                                                    double burst,
                                                    std::string* error) {
  static std::mutex mutex;
  static std::map<std::string, std::weak_ptr<TokenBucket>> buckets;
  std::lock_guard<std::mutex> lock(mutex);
  if (auto existing = buckets[path].lock()) {
    existing->Configure(requests_per_second, burst);
    return existing;
  }

  const size_t size = sizeof(SharedBucketFile);
  uint64_t ticks_per_second = 0;
  void* mapping = OpenBucketFile(path, size, &ticks_per_second, error);
  if (mapping == nullptr) return nullptr;
  auto* file = static_cast<SharedBucketFile*>(mapping);

  auto bucket = std::make_shared<TokenBucket>();
  bucket->state_ = &file->state;
  bucket->ticks_per_second_ = ticks_per_second;
  bucket->mapping_ = mapping;
  bucket->mapping_size_ = size;
  bucket->Configure(requests_per_second, burst);
  buckets[path] = bucket;
  return bucket;
}

TokenBucket::~TokenBucket() {
  if (mapping_ != nullptr) munmap(mapping_, mapping_size_);
}

void TokenBucket::Configure(double requests_per_second, double burst) {
  const double ticks_per_second = static_cast<double>(ticks_per_second_);
  uint64_t interval = static_cast<uint64_t>(
      std::llround(ticks_per_second / requests_per_second));
  if (interval == 0) interval = 1;
  state_->interval.store(interval, std::memory_order_relaxed);
  // A burst of many hours at a low rate would not fit in 64 bits of ticks.
  // So the tolerance is capped at 2^62 ticks, more than two years of a
  // 4 GHz TSC, which leaves room to add it to the time without overflow.
  const double tolerance = burst * static_cast<double>(interval);
  constexpr double kMaxTolerance = 4611686018427387904.0;  // 2^62
  state_->tolerance.store(
      tolerance >= kMaxTolerance ? uint64_t{1} << 62 : static_cast<uint64_t>(std::llround(tolerance)),
      std::memory_order_relaxed);
  requests_per_second_.store(requests_per_second);
  burst_.store(burst);
}

bool TokenBucket::TryAcquire(uint32_t count) {
  return TryAcquireAt(NowTicks(), count);
}

bool TokenBucket::TryAcquireAt(uint64_t now, uint32_t count) {
  const uint64_t interval = state_->interval.load(std::memory_order_relaxed);
  const uint64_t tolerance = state_->tolerance.load(std::memory_order_relaxed);
  // A request larger than the burst can never pass. The check multiplies
  // with an overflow test instead of dividing tolerance by count, because a
  // 64-bit division would add several nanoseconds to every call.
  uint64_t cost;
  if (count == 0 || __builtin_mul_overflow(interval, uint64_t{count}, &cost) ||
      cost > tolerance) {
    state_->rejected.fetch_add(count, std::memory_order_relaxed);
    return false;
  }
  const uint64_t limit = now + tolerance;
  uint64_t arrival = state_->theoretical_arrival.load(std::memory_order_relaxed);
  uint64_t granted = state_->granted.load(std::memory_order_relaxed);
  while (true) {
    // An idle bucket has a TAT in the past; it restarts from now, which is
    // what caps the burst.
    uint64_t next = (arrival > now ? arrival : now) + cost;
    if (next > limit) {
      state_->rejected.fetch_add(count, std::memory_order_relaxed);
      return false;
    }
    if (CompareExchangeGrant(*state_, arrival, granted, next, count)) return true;
  }
}

}  // namespace hsm_kms
