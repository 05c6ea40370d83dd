#include "iv_source.h"

#include <sys/random.h>

#include <cerrno>
#include <cstring>

namespace hsm_kms {
namespace {

// 341 IVs per refill. The block is not secret once used as IVs, because IVs
// travel in clear inside ciphertext blobs.
constexpr size_t kBlockBytes = kGcmIvBytes * 341;

struct IvBlock {
  uint8_t bytes[kBlockBytes];
  size_t next = kBlockBytes;
};

thread_local IvBlock block;

bool Refill(Failure* failure) {
  size_t filled = 0;
  while (filled < kBlockBytes) {
    ssize_t got = getrandom(block.bytes + filled, kBlockBytes - filled, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      *failure = EngineFailure(FailureCategory::kOther,
                               std::string("getrandom failed: ") +
                                   std::strerror(errno));
      return false;
    }
    filled += static_cast<size_t>(got);
  }
  block.next = 0;
  return true;
}

}  // namespace

bool FillRandomIv(uint8_t* iv, Failure* failure) {
  if (block.next + kGcmIvBytes > kBlockBytes && !Refill(failure)) return false;
  std::memcpy(iv, block.bytes + block.next, kGcmIvBytes);
  // Each IV is handed out once: erase it from the block.
  std::memset(block.bytes + block.next, 0, kGcmIvBytes);
  block.next += kGcmIvBytes;
  return true;
}

}  // namespace hsm_kms
