// AES key objects in the token: generation, lookup by CKA_ID, session copies
// and destruction. The key value never leaves the token: every template
// marks keys sensitive and not extractable.
#ifndef HSM_KMS_KEY_OBJECTS_H_
#define HSM_KMS_KEY_OBJECTS_H_

#include <string>

#include "errors.h"
#include "pkcs11_api.h"

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
};

// Generates a 256-bit AES token key, private, sensitive, not extractable,
// usable for encrypt and decrypt only.
bool GenerateAesKey(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE session,
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
