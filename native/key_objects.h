// AES key objects in the token: generation, lookup by CKA_ID, session copies
// and destruction. The key value never leaves the token: every template
// marks keys sensitive and not extractable.
#ifndef HSM_KMS_KEY_OBJECTS_H_
#define HSM_KMS_KEY_OBJECTS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "errors.h"
#include "pkcs11_api.h"
#include "secure_buffer.h"

namespace hsm_kms {

// Attributes of a key as the token reports them.
struct KeyAttributes {
  std::string label;
  CK_ULONG value_length = 0;
  bool token = false;
  bool is_private = false;
  bool sensitive = false;
  bool extractable = false;
  bool always_sensitive = false;
  bool never_extractable = false;
  bool encrypt = false;
  bool decrypt = false;
  bool wrap = false;
  bool unwrap = false;
  bool sign = false;
  bool verify = false;
  bool derive = false;
  bool wrap_with_trusted = false;
};

// Generates a 256-bit AES token key, private and sensitive, usable for
// encrypt and decrypt only. A key that is not `replicable` is also not
// extractable. A replicable key is extractable only under a trusted
// wrapping key (CKA_WRAP_WITH_TRUSTED), which is how it is copied to the
// other HSMs of a cluster; its value never leaves an HSM in clear.
bool GenerateAesKey(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE session,
                    const std::string& id, const std::string& label,
                    bool replicable, CK_OBJECT_HANDLE* key, Failure* failure);

// Imports the cluster wrapping key: a public, sensitive, not extractable
// AES-256 token key marked CKA_TRUSTED, usable only to wrap and unwrap.
// PKCS#11 lets only the security officer set CKA_TRUSTED, so `session`
// must be logged in as the SO.
bool CreateTrustedWrappingKey(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE session,
                              const std::string& id, const std::string& label,
                              const SecureBuffer& value, Failure* failure);

// Wraps `key` under `wrapping_key` with AES key wrap (RFC 3394).
bool WrapKey(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE session,
             CK_OBJECT_HANDLE wrapping_key, CK_OBJECT_HANDLE key,
             SecureBuffer* wrapped, Failure* failure);

// Unwraps a key wrapped by WrapKey into a token key with the same
// attributes that GenerateAesKey gives a replicable key, set explicitly
// because unwrapped keys otherwise default to extractable.
bool UnwrapKey(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE session,
               CK_OBJECT_HANDLE unwrapping_key, const SecureBuffer& wrapped,
               const std::string& id, const std::string& label,
               CK_OBJECT_HANDLE* key, Failure* failure);

// Finds the AES secret key whose CKA_ID equals `id` among the token objects.
// Sets `*key` to CK_INVALID_HANDLE when there is none, and fails when more
// than one object matches, because the caller could not tell which to use.
bool FindKeyById(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE session,
                 const std::string& id, CK_OBJECT_HANDLE* key,
                 Failure* failure);

// Copies a token key into a session object (CKA_TOKEN false). The copy keeps
// CKA_SENSITIVE and CKA_EXTRACTABLE, so its value stays in the token, and it
// lives until the session that made it closes.
bool CopyToSessionObject(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE session,
                         CK_OBJECT_HANDLE key, CK_OBJECT_HANDLE* copy,
                         Failure* failure);

bool DestroyObject(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE session,
                   CK_OBJECT_HANDLE object, Failure* failure);

bool ReadKeyAttributes(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE session,
                       CK_OBJECT_HANDLE key, KeyAttributes* attributes,
                       Failure* failure);

}  // namespace hsm_kms

#endif  // HSM_KMS_KEY_OBJECTS_H_
