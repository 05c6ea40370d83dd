// AES-256-GCM and random numbers computed inside the token. Every function
// runs on one session that the calling thread owns for the duration of the
// call, and reports a failure through `failure`.
#ifndef HSM_KMS_TOKEN_CRYPTO_H_
#define HSM_KMS_TOKEN_CRYPTO_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "errors.h"
#include "pkcs11_api.h"
#include "secure_buffer.h"

namespace hsm_kms {

// Point at which a failed call stopped. After kMidOperation the session may still
// hold an active operation (SoftHSM2 before 2.7.0 keeps it after some input
// errors), so the caller must not reuse that session.
enum class FailurePoint { kNone, kBeforeOperation, kMidOperation };

struct GcmInput {
  const uint8_t* aad;
  size_t aad_size;
  const uint8_t* data;
  size_t data_size;
};

// Encrypts `input.data` and appends IV || ciphertext || tag to `output`.
// With `hsm_generates_iv` the module writes its own IV into the buffer it is
// given, and that IV is returned. Otherwise the IV is random from the host.
// The AAD must not be empty, because SoftHSM2 2.6 aborts the process on it.
bool GcmEncrypt(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE session,
                CK_OBJECT_HANDLE key, bool hsm_generates_iv,
                const GcmInput& input, std::vector<uint8_t>* output,
                FailurePoint* point, Failure* failure);

// Decrypts ciphertext || tag (`input.data`) with `iv` into `plaintext`.
// A tag that does not verify is a kAuthentication failure.
bool GcmDecrypt(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE session,
                CK_OBJECT_HANDLE key, const uint8_t* iv, const GcmInput& input,
                SecureBuffer* plaintext, FailurePoint* point,
                Failure* failure);

// Fills `output` with random bytes from the token's generator.
bool GenerateRandom(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE session,
                    uint8_t* output, size_t size, Failure* failure);

}  // namespace hsm_kms

#endif  // HSM_KMS_TOKEN_CRYPTO_H_
