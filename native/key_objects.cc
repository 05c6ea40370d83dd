#include "key_objects.h"

#include <iterator>
#include <vector>

namespace hsm_kms {
namespace {

CK_BBOOL kTrue = CK_TRUE;
CK_BBOOL kFalse = CK_FALSE;
CK_OBJECT_CLASS kSecretKeyClass = CKO_SECRET_KEY;
CK_KEY_TYPE kAesKeyType = CKK_AES;

CK_ATTRIBUTE Bool(CK_ATTRIBUTE_TYPE type, CK_BBOOL* value) {
  return {type, value, sizeof(*value)};
}

// Attribute templates point at their values; PKCS#11 takes non-const
// pointers even for templates it only reads.
CK_ATTRIBUTE Bytes(CK_ATTRIBUTE_TYPE type, const std::string& value) {
  return {type, const_cast<char*>(value.data()), value.size()};
}

}  // namespace

// Returns the attributes of a master key: the one place that says what a
// generated key and a copy unwrapped on another HSM both are. The template
// points at `id`, `label` and static values, which must outlive its use.
static std::vector<CK_ATTRIBUTE> MasterKeyTemplate(const std::string& id,
                                                   const std::string& label,
                                                   bool extractable) {
  CK_BBOOL* extractable_value = extractable ? &kTrue : &kFalse;
  return {
      {CKA_CLASS, &kSecretKeyClass, sizeof(kSecretKeyClass)},
      {CKA_KEY_TYPE, &kAesKeyType, sizeof(kAesKeyType)},
      Bytes(CKA_ID, id),
      Bytes(CKA_LABEL, label),
      Bool(CKA_TOKEN, &kTrue),
      Bool(CKA_PRIVATE, &kTrue),
      Bool(CKA_SENSITIVE, &kTrue),
      Bool(CKA_EXTRACTABLE, extractable_value),
      Bool(CKA_WRAP_WITH_TRUSTED, extractable_value),
      Bool(CKA_ENCRYPT, &kTrue),
      Bool(CKA_DECRYPT, &kTrue),
      Bool(CKA_WRAP, &kFalse),
      Bool(CKA_UNWRAP, &kFalse),
      Bool(CKA_SIGN, &kFalse),
      Bool(CKA_VERIFY, &kFalse),
      Bool(CKA_DERIVE, &kFalse),
  };
}

bool GenerateAesKey(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE session,
                    const std::string& id, const std::string& label,
                    bool replicable, CK_OBJECT_HANDLE* key, Failure* failure) {
  CK_ULONG value_length = 32;
  std::vector<CK_ATTRIBUTE> key_template = MasterKeyTemplate(id, label, replicable);
  key_template.push_back({CKA_VALUE_LEN, &value_length, sizeof(value_length)});
  CK_MECHANISM mechanism = {CKM_AES_KEY_GEN, nullptr, 0};
  CK_RV rv = p11->C_GenerateKey(session, &mechanism, key_template.data(),
                                key_template.size(), key);
  if (rv != CKR_OK) {
    *failure = Pkcs11Failure("C_GenerateKey", rv);
    return false;
  }
  return true;
}

bool CreateTrustedWrappingKey(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE session,
                              const std::string& id, const std::string& label,
                              const SecureBuffer& value, Failure* failure) {
  CK_ATTRIBUTE key_template[] = {
      {CKA_CLASS, &kSecretKeyClass, sizeof(kSecretKeyClass)},
      {CKA_KEY_TYPE, &kAesKeyType, sizeof(kAesKeyType)},
      {CKA_VALUE, const_cast<uint8_t*>(value.data()), value.size()},
      Bytes(CKA_ID, id),
      Bytes(CKA_LABEL, label),
      Bool(CKA_TOKEN, &kTrue),
      // The security officer can create only public objects.
      Bool(CKA_PRIVATE, &kFalse),
      Bool(CKA_SENSITIVE, &kTrue),
      Bool(CKA_EXTRACTABLE, &kFalse),
      Bool(CKA_TRUSTED, &kTrue),
      Bool(CKA_WRAP, &kTrue),
      Bool(CKA_UNWRAP, &kTrue),
      Bool(CKA_ENCRYPT, &kFalse),
      Bool(CKA_DECRYPT, &kFalse),
      Bool(CKA_SIGN, &kFalse),
      Bool(CKA_VERIFY, &kFalse),
      Bool(CKA_DERIVE, &kFalse),
  };
  CK_OBJECT_HANDLE key = CK_INVALID_HANDLE;
  CK_RV rv = p11->C_CreateObject(session, key_template, std::size(key_template), &key);
  if (rv != CKR_OK) {
    *failure = Pkcs11Failure("C_CreateObject", rv);
    return false;
  }
  return true;
}

bool WrapKey(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE session,
             CK_OBJECT_HANDLE wrapping_key, CK_OBJECT_HANDLE key,
             SecureBuffer* wrapped, Failure* failure) {
  CK_MECHANISM mechanism = {CKM_AES_KEY_WRAP, nullptr, 0};
  // RFC 3394 adds 8 bytes to the 32-byte key; room for more keeps a module
  // with a different padding from failing on the size.
  wrapped->Reset(64);
  CK_ULONG length = wrapped->size();
  CK_RV rv = p11->C_WrapKey(session, &mechanism, wrapping_key, key, wrapped->data(), &length);
  if (rv != CKR_OK) {
    wrapped->Wipe();
    *failure = Pkcs11Failure("C_WrapKey", rv);
    return false;
  }
  wrapped->Truncate(length);
  return true;
}

bool UnwrapKey(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE session,
               CK_OBJECT_HANDLE unwrapping_key, const SecureBuffer& wrapped,
               const std::string& id, const std::string& label,
               CK_OBJECT_HANDLE* key, Failure* failure) {
  // Unwrapped keys default to extractable, so every attribute is explicit.
  std::vector<CK_ATTRIBUTE> key_template = MasterKeyTemplate(id, label, true);
  CK_MECHANISM mechanism = {CKM_AES_KEY_WRAP, nullptr, 0};
  CK_RV rv = p11->C_UnwrapKey(session, &mechanism, unwrapping_key,
                              const_cast<uint8_t*>(wrapped.data()), wrapped.size(),
                              key_template.data(), key_template.size(), key);
  if (rv != CKR_OK) {
    *failure = Pkcs11Failure("C_UnwrapKey", rv);
    return false;
  }
  return true;
}

bool FindKeyById(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE session,
                 const std::string& id, CK_OBJECT_HANDLE* key,
                 Failure* failure) {
  CK_ATTRIBUTE search[] = {
      {CKA_CLASS, &kSecretKeyClass, sizeof(kSecretKeyClass)},
      {CKA_KEY_TYPE, &kAesKeyType, sizeof(kAesKeyType)},
      Bool(CKA_TOKEN, &kTrue),
      Bytes(CKA_ID, id),
  };
  CK_RV rv = p11->C_FindObjectsInit(session, search, std::size(search));
  if (rv != CKR_OK) {
    *failure = Pkcs11Failure("C_FindObjectsInit", rv);
    return false;
  }

  CK_OBJECT_HANDLE found[4] = {CK_INVALID_HANDLE, CK_INVALID_HANDLE,
                               CK_INVALID_HANDLE, CK_INVALID_HANDLE};
  CK_ULONG count = 0;
  rv = p11->C_FindObjects(session, found, std::size(found), &count);
  // C_FindObjectsFinal ends the search even when C_FindObjects failed, so
  // the session is free for the next operation either way.
  CK_RV final_rv = p11->C_FindObjectsFinal(session);
  if (rv != CKR_OK) {
    *failure = Pkcs11Failure("C_FindObjects", rv);
    return false;
  }
  if (final_rv != CKR_OK) {
    *failure = Pkcs11Failure("C_FindObjectsFinal", final_rv);
    return false;
  }
  // A session copy that another thread is making at this moment can match
  // as a token object. SoftHSM2 2.6 gives the copy the original's attributes
  // before the template's CKA_TOKEN false (seen under load). So each match
  // is checked for CKA_TOKEN before duplicates are reported.
  CK_OBJECT_HANDLE token_objects[std::size(found)];
  CK_ULONG token_count = 0;
  for (CK_ULONG i = 0; i < count; ++i) {
    CK_BBOOL on_token = CK_FALSE;
    CK_ATTRIBUTE query[] = {Bool(CKA_TOKEN, &on_token)};
    if (count == 1 ||
        (p11->C_GetAttributeValue(session, found[i], query, 1) == CKR_OK &&
         on_token == CK_TRUE)) {
      token_objects[token_count++] = found[i];
    }
  }
  if (token_count > 1) {
    *failure = EngineFailure(FailureCategory::kKey,
                             "More than one AES key in the token has this "
                             "CKA_ID; remove the duplicates");
    return false;
  }
  *key = token_count == 1 ? token_objects[0] : CK_INVALID_HANDLE;
  return true;
}

bool CopyToSessionObject(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE session,
                         CK_OBJECT_HANDLE key, CK_OBJECT_HANDLE* copy,
                         Failure* failure) {
  CK_ATTRIBUTE copy_template[] = {Bool(CKA_TOKEN, &kFalse)};
  CK_RV rv = p11->C_CopyObject(session, key, copy_template,
                               std::size(copy_template), copy);
  if (rv != CKR_OK) {
    *failure = Pkcs11Failure("C_CopyObject", rv);
    return false;
  }
  return true;
}

bool DestroyObject(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE session,
                   CK_OBJECT_HANDLE object, Failure* failure) {
  CK_RV rv = p11->C_DestroyObject(session, object);
  if (rv != CKR_OK) {
    *failure = Pkcs11Failure("C_DestroyObject", rv);
    return false;
  }
  return true;
}

bool ReadKeyAttributes(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE session,
                       CK_OBJECT_HANDLE key, KeyAttributes* attributes,
                       Failure* failure) {
  CK_BBOOL flags[14] = {};
  CK_ULONG value_length = 0;
  char label[256] = {};
  CK_ATTRIBUTE query[] = {
      Bool(CKA_TOKEN, &flags[0]),
      Bool(CKA_PRIVATE, &flags[1]),
      Bool(CKA_SENSITIVE, &flags[2]),
      Bool(CKA_EXTRACTABLE, &flags[3]),
      Bool(CKA_ALWAYS_SENSITIVE, &flags[4]),
      Bool(CKA_NEVER_EXTRACTABLE, &flags[5]),
      Bool(CKA_ENCRYPT, &flags[6]),
      Bool(CKA_DECRYPT, &flags[7]),
      Bool(CKA_WRAP, &flags[8]),
      Bool(CKA_UNWRAP, &flags[9]),
      Bool(CKA_SIGN, &flags[10]),
      Bool(CKA_VERIFY, &flags[11]),
      Bool(CKA_DERIVE, &flags[12]),
      Bool(CKA_WRAP_WITH_TRUSTED, &flags[13]),
      {CKA_VALUE_LEN, &value_length, sizeof(value_length)},
      {CKA_LABEL, label, sizeof(label)},
  };
  CK_RV rv = p11->C_GetAttributeValue(session, key, query, std::size(query));
  if (rv != CKR_OK) {
    *failure = Pkcs11Failure("C_GetAttributeValue", rv);
    return false;
  }

  attributes->token = flags[0] == CK_TRUE;
  attributes->is_private = flags[1] == CK_TRUE;
  attributes->sensitive = flags[2] == CK_TRUE;
  attributes->extractable = flags[3] == CK_TRUE;
  attributes->always_sensitive = flags[4] == CK_TRUE;
  attributes->never_extractable = flags[5] == CK_TRUE;
  attributes->encrypt = flags[6] == CK_TRUE;
  attributes->decrypt = flags[7] == CK_TRUE;
  attributes->wrap = flags[8] == CK_TRUE;
  attributes->unwrap = flags[9] == CK_TRUE;
  attributes->sign = flags[10] == CK_TRUE;
  attributes->verify = flags[11] == CK_TRUE;
  attributes->derive = flags[12] == CK_TRUE;
  attributes->wrap_with_trusted = flags[13] == CK_TRUE;
  attributes->value_length = value_length;
  attributes->label.assign(label, query[15].ulValueLen);
  return true;
}

}  // namespace hsm_kms
