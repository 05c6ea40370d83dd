// One request to an HSM, carried from the JavaScript thread to an executor
// thread and back. Inputs are copied in on the JavaScript thread, so no
// JavaScript memory is touched off that thread. Secrets are kept in
// SecureBuffers and wiped when the job is destroyed.
#ifndef HSM_KMS_HSM_JOB_H_
#define HSM_KMS_HSM_JOB_H_

#include <node_api.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "errors.h"
#include "key_objects.h"
#include "secure_buffer.h"

namespace hsm_kms {

class CompletionQueue;
class HsmExecutor;

enum class JobKind {
  kEncrypt,          // key_id, aad, secret_input -> output (IV||ct||tag)
  kDecrypt,          // key_id, aad, iv, ciphertext -> secret_output
  kReEncrypt,        // decrypt as above, then encrypt under destination_*
  kGenerateDataKey,  // key_id, aad, size -> secret_output and output
  kGenerateRandom,   // size -> output
  kGenerateKey,      // key_id, label -> nothing
  kDestroyKey,       // key_id -> found
  kHasKey,           // key_id -> found
  kKeyAttributes,    // key_id -> attributes
  kReplicateKey,     // wrap key_id under wrapping_key_id here, unwrap it on
                     // destination -> found (false when already there)
};

struct Job {
  JobKind kind = JobKind::kEncrypt;

  // Destination of the result: the completion queue of the JavaScript
  // environment that submitted the job, and the promise to settle there.
  std::shared_ptr<CompletionQueue> completions;
  napi_deferred deferred = nullptr;

  std::string key_id;  // CKA_ID of the key
  std::string label;   // CKA_LABEL for kGenerateKey
  std::vector<uint8_t> aad;
  std::vector<uint8_t> iv;
  std::vector<uint8_t> ciphertext;  // ciphertext || tag
  SecureBuffer secret_input;        // plaintext to encrypt
  size_t size = 0;                  // bytes of random or of a data key
  bool return_plaintext = false;    // kGenerateDataKey
  bool replicable = false;          // kGenerateKey
  std::string wrapping_key_id;      // kReplicateKey

  // kReEncrypt and kReplicateKey: the second half runs on the destination
  // executor, which the job keeps alive until it is done. Between the halves
  // secret_input contains the plaintext or the wrapped key.
  std::shared_ptr<HsmExecutor> destination;
  std::string destination_key_id;
  std::vector<uint8_t> destination_aad;
  bool first_half_done = false;
  bool second_half_done = false;

  // Results.
  std::vector<uint8_t> output;
  SecureBuffer secret_output;
  bool found = false;
  KeyAttributes attributes;
  std::optional<Failure> failure;

  // Bytes allocated by the buffers that Recycle() keeps.
  size_t RetainedCapacity() const {
    return key_id.capacity() + aad.capacity() + iv.capacity() +
           ciphertext.capacity() + secret_input.capacity() +
           output.capacity() + secret_output.capacity();
  }

  // Returns every member to its initial value, with secrets wiped, but keeps
  // the allocations of the byte buffers that every crypto request fills, so
  // that a reused job allocates nothing for a request of similar size. It
  // also keeps `completions`: a job is reused by the environment that owns
  // that queue, and changing the reference count of a queue that executor
  // threads share took a third of this function's time in perf.
  void Recycle() {
    std::shared_ptr<CompletionQueue> kept_completions = std::move(completions);
    std::string kept_key_id = std::move(key_id);
    std::vector<uint8_t> kept_aad = std::move(aad);
    std::vector<uint8_t> kept_iv = std::move(iv);
    std::vector<uint8_t> kept_ciphertext = std::move(ciphertext);
    std::vector<uint8_t> kept_output = std::move(output);
    SecureBuffer kept_secret_input = std::move(secret_input);
    SecureBuffer kept_secret_output = std::move(secret_output);
    kept_secret_input.Wipe();
    kept_secret_output.Wipe();

    *this = Job();
    kept_key_id.clear();
    kept_aad.clear();
    kept_iv.clear();
    kept_ciphertext.clear();
    kept_output.clear();
    key_id = std::move(kept_key_id);
    aad = std::move(kept_aad);
    iv = std::move(kept_iv);
    ciphertext = std::move(kept_ciphertext);
    output = std::move(kept_output);
    secret_input = std::move(kept_secret_input);
    secret_output = std::move(kept_secret_output);
    completions = std::move(kept_completions);
  }
};

}  // namespace hsm_kms

#endif  // HSM_KMS_HSM_JOB_H_
