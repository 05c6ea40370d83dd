// createWrappingKey(): imports the cluster wrapping key into one token as
// the security officer. Key replication between the HSMs of a cluster wraps
// keys under it, and PKCS#11 lets only the SO mark a key CKA_TRUSTED.
#include <string>
#include <utility>

#include "addon.h"
#include "key_objects.h"
#include "module_loader.h"
#include "session_pool.h"

namespace hsm_kms {
namespace {

// Runs on a libuv thread: opens a session, logs in as the SO, creates the
// key, logs out. The token must have no user sessions in this process,
// because a token allows only one user type logged in at a time.
class CreateWrappingKeyWorker : public Napi::AsyncWorker {
 public:
  CreateWrappingKeyWorker(Napi::Env env, std::string module_path,
                          std::string token_label, SecureBuffer so_pin,
                          std::string key_id, std::string label,
                          SecureBuffer value)
      : Napi::AsyncWorker(env, "hsm-kms create wrapping key"),
        module_path_(std::move(module_path)),
        token_label_(std::move(token_label)),
        so_pin_(std::move(so_pin)),
        key_id_(std::move(key_id)),
        label_(std::move(label)),
        value_(std::move(value)),
        deferred_(Napi::Promise::Deferred::New(env)) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    if (!Create()) SetError(failure_.message);
    so_pin_.Wipe();
    value_.Wipe();
  }

  void OnOK() override { deferred_.Resolve(Napi::Boolean::New(Env(), created_)); }

  void OnError(const Napi::Error&) override {
    deferred_.Reject(ToJsError(Env(), GetAddonData(Env()).errors, failure_));
  }

 private:
  bool Create() {
    std::shared_ptr<Pkcs11Module> module = Pkcs11Module::Acquire(module_path_, &failure_);
    if (!module) return false;
    TokenDescription token;
    if (!FindTokenSlot(*module, token_label_, &token, &failure_)) return false;

    CK_FUNCTION_LIST* p11 = module->functions();
    CK_SESSION_HANDLE session = CK_INVALID_HANDLE;
    CK_RV rv = p11->C_OpenSession(token.slot, CKF_SERIAL_SESSION | CKF_RW_SESSION,
                                  nullptr, nullptr, &session);
    if (rv != CKR_OK) {
      failure_ = Pkcs11Failure("C_OpenSession", rv);
      return false;
    }
    bool ok = LoggedInCreate(p11, session);
    p11->C_CloseSession(session);
    return ok;
  }

  bool LoggedInCreate(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE session) {
    CK_RV rv = p11->C_Login(session, CKU_SO, so_pin_.data(), so_pin_.size());
    if (rv != CKR_OK) {
      failure_ = Pkcs11Failure("C_Login", rv);
      failure_.message += " as the security officer of token \"" + token_label_ + "\"";
      return false;
    }
    CK_OBJECT_HANDLE existing = CK_INVALID_HANDLE;
    bool ok = FindKeyById(p11, session, key_id_, &existing, &failure_);
    if (ok && existing == CK_INVALID_HANDLE) {
      ok = CreateTrustedWrappingKey(p11, session, key_id_, label_, value_, &failure_);
      created_ = ok;
    }
    p11->C_Logout(session);
    return ok;
  }

  std::string module_path_;
  std::string token_label_;
  SecureBuffer so_pin_;
  std::string key_id_;
  std::string label_;
  SecureBuffer value_;
  Napi::Promise::Deferred deferred_;
  Failure failure_;
  bool created_ = false;
};

std::string RequiredString(Napi::Env env, Napi::Object options, const char* name) {
  Napi::Value value = options.Get(name);
  if (!value.IsString() || value.As<Napi::String>().Utf8Value().empty()) {
    throw Napi::TypeError::New(
        env, std::string("Expected options.") + name + " to be a non-empty string");
  }
  return value.As<Napi::String>().Utf8Value();
}

SecureBuffer RequiredBytes(Napi::Env env, Napi::Object options, const char* name) {
  Napi::Value value = options.Get(name);
  if (!value.IsTypedArray() ||
      value.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    throw Napi::TypeError::New(env, std::string("Expected options.") + name + " to be a Uint8Array");
  }
  auto array = value.As<Napi::Uint8Array>();
  return SecureBuffer(array.Data(), array.ByteLength());
}

// createWrappingKey({ module, tokenLabel, soPin, keyId, label, value })
//   -> Promise<boolean: false when a key with keyId already existed>
Napi::Value CreateWrappingKey(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 1 || !info[0].IsObject()) {
    throw Napi::TypeError::New(env, "createWrappingKey expects an options object");
  }
  Napi::Object options = info[0].As<Napi::Object>();
  std::string module_path = RequiredString(env, options, "module");
  std::string token_label = RequiredString(env, options, "tokenLabel");
  SecureBuffer so_pin = RequiredBytes(env, options, "soPin");
  SecureBuffer key_id_bytes = RequiredBytes(env, options, "keyId");
  std::string key_id(reinterpret_cast<const char*>(key_id_bytes.data()), key_id_bytes.size());
  std::string label = RequiredString(env, options, "label");
  SecureBuffer value = RequiredBytes(env, options, "value");
  if (value.size() != 32) {
    throw Napi::RangeError::New(env, "Expected options.value to have 32 bytes (an AES-256 key)");
  }

  auto* worker = new CreateWrappingKeyWorker(env, std::move(module_path), std::move(token_label),
                                             std::move(so_pin), std::move(key_id),
                                             std::move(label), std::move(value));
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

}  // namespace

void InitWrappingKeyBinding(Napi::Env env, Napi::Object exports) {
  exports.Set("createWrappingKey", Napi::Function::New(env, CreateWrappingKey));
}

}  // namespace hsm_kms
