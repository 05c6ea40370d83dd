// Failures of HSM work, described as plain data so that worker threads can
// produce them and the JavaScript thread can turn them into error objects.
#ifndef HSM_KMS_ERRORS_H_
#define HSM_KMS_ERRORS_H_

#include <napi.h>

#include <string>

#include "pkcs11_api.h"

namespace hsm_kms {

// Category of a failure, from which a caller decides how to react. The JavaScript
// facade maps these to KMS exceptions, and the executor uses them to decide on recovery.
enum class FailureCategory {
  kInput,           // the request was invalid: report it, nothing to recover
  kAuthentication,  // GCM tag check failed: wrong key, IV, AAD or data
  kCredentials,     // wrong or invalid PIN
  kLocked,          // the PIN is locked after too many wrong attempts
  kKey,             // the key is missing, or may not be used this way
  kSession,         // the session is gone: open a new one
  kDevice,          // the token is gone or logged out: log in again
  kUnsupported,     // the module lacks a mechanism or function
  kNotFound,        // a token or key with that identifier does not exist
  kClosed,          // the HSM handle was closed
  kBusy,            // the queue of the HSM is full
  kOther,
};

// One failed step. `function` is the PKCS#11 function that returned `rv`,
// or empty for failures that come from hsm-kms itself (rv is then CKR_OK).
struct Failure {
  CK_RV rv = CKR_OK;
  std::string function;
  FailureCategory category = FailureCategory::kOther;
  std::string message;
};

// Returns the CKR_ name of a return value, or CKR_VENDOR_DEFINED_0x... or
// CKR_UNKNOWN_0x... for values outside the table.
std::string RvName(CK_RV rv);

// Classifies a return value of `function`.
FailureCategory CategoryOf(CK_RV rv);
const char* CategoryName(FailureCategory category);

// Builds a Failure for a return value of a PKCS#11 function.
Failure Pkcs11Failure(const char* function, CK_RV rv);

// Builds a Failure for a condition detected by hsm-kms, with no rv.
Failure EngineFailure(FailureCategory category, std::string message);

// True for codes after which the session must not be used again.
bool IsSessionLost(CK_RV rv);
// True for codes after which every session of the token must be reopened and
// the user logged in again.
bool IsTokenLost(CK_RV rv);

// Error classes defined in JavaScript, handed over once per environment.
struct ErrorClasses {
  Napi::FunctionReference pkcs11_error;  // (message) with code, rv, function
  Napi::FunctionReference hsm_error;     // (message) with code
};

// Creates the JavaScript error object for a Failure.
Napi::Value ToJsError(Napi::Env env, const ErrorClasses& classes,
                      const Failure& failure);

}  // namespace hsm_kms

#endif  // HSM_KMS_ERRORS_H_
