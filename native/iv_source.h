// Random 96-bit GCM IVs from the operating system's CSPRNG (getrandom(2)).
// NIST SP 800-38D allows random IVs of at least 96 bits when a key performs
// at most 2^32 encryptions; counting those is the caller's job.
#ifndef HSM_KMS_IV_SOURCE_H_
#define HSM_KMS_IV_SOURCE_H_

#include <cstddef>
#include <cstdint>

#include "errors.h"

namespace hsm_kms {

constexpr size_t kGcmIvBytes = 12;
constexpr size_t kGcmTagBytes = 16;

// Writes kGcmIvBytes random bytes to `iv`. Reads the kernel in blocks of
// several hundred IVs per thread, because one getrandom call per encryption
// would cost more than the encryption itself.
bool FillRandomIv(uint8_t* iv, Failure* failure);

}  // namespace hsm_kms

#endif  // HSM_KMS_IV_SOURCE_H_
