#include "token_bucket.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
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

namespace {

// Layout of a shared bucket file. The magic number marks a file that
// contains a bucket. A new file is all zeros, which is a valid empty state.
constexpr uint64_t kSharedMagic = 0x68736d6b6d736231ULL;  // "hsmkmsb1"

struct SharedBucketFile {
  std::atomic<uint64_t> magic;
  TokenBucketState state;
};

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

  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    *error = "cannot open " + path + ": " + std::strerror(errno);
    return nullptr;
  }
  const size_t size = sizeof(SharedBucketFile);
  struct stat info;
  // Growing a new file to the bucket's size leaves it zero-filled. Several
  // processes may do this at once; each sets the same size.
  bool sized = fstat(fd, &info) == 0 &&
               (static_cast<size_t>(info.st_size) >= size ||
                ftruncate(fd, static_cast<off_t>(size)) == 0);
  void* mapping = sized ? mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
                        : MAP_FAILED;
  int saved_errno = errno;
  close(fd);
  if (mapping == MAP_FAILED) {
    *error = "cannot map " + path + ": " + std::strerror(saved_errno);
    return nullptr;
  }

  auto* file = static_cast<SharedBucketFile*>(mapping);
  uint64_t expected = 0;
  if (!file->magic.compare_exchange_strong(expected, kSharedMagic) && expected != kSharedMagic) {
    munmap(mapping, size);
    *error = path + " exists but does not hold an hsm-kms rate limit; remove it or choose another path";
    return nullptr;
  }

  auto bucket = std::make_shared<TokenBucket>();
  bucket->state_ = &file->state;
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
  const double ticks_per_second = 1e9 * kTicksPerNanosecond;
  uint64_t interval = static_cast<uint64_t>(
      std::llround(ticks_per_second / requests_per_second));
  if (interval == 0) interval = 1;
  state_->interval.store(interval, std::memory_order_relaxed);
  state_->tolerance.store(
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
  const uint64_t interval = state_->interval.load(std::memory_order_relaxed);
  const uint64_t tolerance = state_->tolerance.load(std::memory_order_relaxed);
  // A request larger than the burst can never pass; checking it first also
  // keeps interval * count from overflowing.
  if (count == 0 || interval > tolerance / count) {
    state_->rejected.fetch_add(count, std::memory_order_relaxed);
    return false;
  }
  const uint64_t cost = interval * count;
  const uint64_t limit = now + tolerance;
  uint64_t arrival = state_->theoretical_arrival.load(std::memory_order_relaxed);
  while (true) {
    // An idle bucket has a TAT in the past; it restarts from now, which is
    // what caps the burst.
    uint64_t next = (arrival > now ? arrival : now) + cost;
    if (next > limit) {
      state_->rejected.fetch_add(count, std::memory_order_relaxed);
      return false;
    }
    if (state_->theoretical_arrival.compare_exchange_weak(
            arrival, next, std::memory_order_relaxed,
            std::memory_order_relaxed)) {
      state_->granted.fetch_add(count, std::memory_order_relaxed);
      return true;
    }
  }
}

}  // namespace hsm_kms
