#include "token_crypto.h"

#include <cstring>

#include "iv_source.h"

namespace hsm_kms {
namespace {

CK_GCM_PARAMS MakeGcmParams(uint8_t* iv, const GcmInput& input) {
  CK_GCM_PARAMS params = {};
  params.pIv = iv;
  params.ulIvLen = kGcmIvBytes;
  params.ulIvBits = kGcmIvBytes * 8;
  // PKCS#11 takes non-const pointers, but modules only read the AAD.
  params.pAAD = const_cast<uint8_t*>(input.aad);
  params.ulAADLen = input.aad_size;
  params.ulTagBits = kGcmTagBytes * 8;
  return params;
}

bool RejectEmptyAad(const GcmInput& input, Failure* failure) {
  if (input.aad_size > 0) return false;
  *failure = EngineFailure(FailureCategory::kInput,
                           "AES-GCM needs non-empty additional data");
  return true;
}

bool AllZero(const uint8_t* bytes, size_t size) {
  uint8_t any = 0;
  for (size_t i = 0; i < size; ++i) any |= bytes[i];
  return any == 0;
}

}  // namespace

bool GcmEncrypt(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE session,
                CK_OBJECT_HANDLE key, bool hsm_generates_iv,
                const GcmInput& input, std::vector<uint8_t>* output,
                FailurePoint* point, Failure* failure) {
  *point = FailurePoint::kBeforeOperation;
  if (RejectEmptyAad(input, failure)) return false;

  uint8_t iv[kGcmIvBytes] = {};
  if (!hsm_generates_iv && !FillRandomIv(iv, failure)) return false;
  CK_GCM_PARAMS params = MakeGcmParams(iv, input);
  CK_MECHANISM mechanism = {CKM_AES_GCM, &params, sizeof(params)};

  CK_RV rv = p11->C_EncryptInit(session, &mechanism, key);
  if (rv != CKR_OK) {
    *failure = Pkcs11Failure("C_EncryptInit", rv);
    return false;
  }

  // One call with room for the tag saves the usual size query.
  const size_t offset = output->size();
  output->resize(offset + kGcmIvBytes + input.data_size + kGcmTagBytes);
  uint8_t* ciphertext = output->data() + offset + kGcmIvBytes;
  CK_ULONG written = input.data_size + kGcmTagBytes;
  // An empty plaintext is valid GCM, but SoftHSM2 rejects a null data
  // pointer with CKR_ARGUMENTS_BAD, so it gets a valid one.
  uint8_t no_data = 0;
  uint8_t* data = input.data_size > 0 ? const_cast<uint8_t*>(input.data) : &no_data;
  rv = p11->C_Encrypt(session, data, input.data_size, ciphertext, &written);
  if (rv != CKR_OK || written != input.data_size + kGcmTagBytes) {
    *point = FailurePoint::kMidOperation;
    *failure = rv != CKR_OK
                   ? Pkcs11Failure("C_Encrypt", rv)
                   : EngineFailure(FailureCategory::kOther,
                                   "C_Encrypt returned an AES-GCM output of "
                                   "unexpected length");
    output->resize(offset);
    return false;
  }

  if (hsm_generates_iv && AllZero(iv, kGcmIvBytes)) {
    *failure = EngineFailure(FailureCategory::kUnsupported,
                             "The module was configured to generate GCM IVs "
                             "but returned none; disable hsmGeneratesIv");
    output->resize(offset);
    return false;
  }
  std::memcpy(output->data() + offset, iv, kGcmIvBytes);
  *point = FailurePoint::kNone;
  return true;
}

bool GcmDecrypt(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE session,
                CK_OBJECT_HANDLE key, const uint8_t* iv, const GcmInput& input,
                SecureBuffer* plaintext, FailurePoint* point,
                Failure* failure) {
  *point = FailurePoint::kBeforeOperation;
  if (RejectEmptyAad(input, failure)) return false;
  if (input.data_size < kGcmTagBytes) {
    *failure = EngineFailure(FailureCategory::kAuthentication,
                             "AES-GCM ciphertext is shorter than its tag");
    return false;
  }

  uint8_t iv_copy[kGcmIvBytes];
  std::memcpy(iv_copy, iv, kGcmIvBytes);
  CK_GCM_PARAMS params = MakeGcmParams(iv_copy, input);
  CK_MECHANISM mechanism = {CKM_AES_GCM, &params, sizeof(params)};

  CK_RV rv = p11->C_DecryptInit(session, &mechanism, key);
  if (rv != CKR_OK) {
    *failure = Pkcs11Failure("C_DecryptInit", rv);
    return false;
  }

  // SoftHSM2 wants room for ciphertext plus tag even though the plaintext is
  // shorter by the tag.
  plaintext->Reset(input.data_size);
  CK_ULONG written = input.data_size;
  rv = p11->C_Decrypt(session, const_cast<uint8_t*>(input.data),
                      input.data_size, plaintext->data(), &written);
  if (rv != CKR_OK) {
    *point = FailurePoint::kMidOperation;
    plaintext->Wipe();
    *failure = Pkcs11Failure("C_Decrypt", rv);
    // SoftHSM2 2.6 reports a tag mismatch as CKR_GENERAL_ERROR; newer
    // modules use CKR_ENCRYPTED_DATA_INVALID or CKR_AEAD_DECRYPT_FAILED.
    // Whether the session survived a GENERAL_ERROR is checked here, so a
    // dead device is not mistaken for a forged message.
    if (rv == CKR_GENERAL_ERROR) {
      CK_SESSION_INFO info;
      if (p11->C_GetSessionInfo(session, &info) == CKR_OK) {
        failure->category = FailureCategory::kAuthentication;
      }
    }
    if (failure->category == FailureCategory::kAuthentication) {
      failure->message += ": the AES-GCM tag did not verify, so the key, IV, "
                          "AAD or ciphertext differs from the encryption";
    }
    return false;
  }
  if (written != input.data_size - kGcmTagBytes) {
    *point = FailurePoint::kMidOperation;
    plaintext->Wipe();
    *failure = EngineFailure(FailureCategory::kOther,
                             "C_Decrypt returned a plaintext of unexpected "
                             "length");
    return false;
  }
  plaintext->Truncate(written);
  *point = FailurePoint::kNone;
  return true;
}

bool GenerateRandom(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE session,
                    uint8_t* output, size_t size, Failure* failure) {
  CK_RV rv = p11->C_GenerateRandom(session, output, size);
  if (rv != CKR_OK) {
    *failure = Pkcs11Failure("C_GenerateRandom", rv);
    return false;
  }
  return true;
}

}  // namespace hsm_kms
