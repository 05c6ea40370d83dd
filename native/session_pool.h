// Sessions with one token (one HSM): a long-lived anchor session that keeps
// the login, a bounded set of work sessions, and the cache of key handles.
//
// PKCS#11 keeps one login state per token and application: every session
// opened after C_Login is logged in, and closing the last session logs the
// user out. The anchor session is never used for crypto and stays open
// until the pool is destroyed, so work sessions can be replaced without
// ever dropping the login.
#ifndef HSM_KMS_SESSION_POOL_H_
#define HSM_KMS_SESSION_POOL_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "errors.h"
#include "module_loader.h"
#include "secure_buffer.h"

namespace hsm_kms {

struct TokenDescription {
  CK_SLOT_ID slot = 0;
  std::string label;
  std::string manufacturer;
  std::string model;
  std::string serial_number;
};

// Finds the slot whose token is labelled `label`. Fails with kNotFound when
// no present token has that label, and with CKR_PIN_LOCKED when the user PIN
// of that token is locked.
bool FindTokenSlot(Pkcs11Module& module, const std::string& label,
                   TokenDescription* token, Failure* failure);

// Handles of one key: the token object, and the handle that crypto uses,
// which is a session copy of the token object when copies are enabled.
struct KeyHandles {
  CK_OBJECT_HANDLE token_object = CK_INVALID_HANDLE;
  CK_OBJECT_HANDLE for_crypto = CK_INVALID_HANDLE;
};

class SessionPool {
 public:
  SessionPool(std::shared_ptr<Pkcs11Module> module, std::string token_label,
              SecureBuffer pin, size_t max_sessions, bool session_key_copies);
  ~SessionPool();

  SessionPool(const SessionPool&) = delete;
  SessionPool& operator=(const SessionPool&) = delete;

  // Finds the token, opens the anchor session and logs in as the user.
  bool Connect(Failure* failure);

  // Lends a logged-in work session to one thread. Opens a new one while
  // fewer than max_sessions exist.
  bool Acquire(CK_SESSION_HANDLE* session, Failure* failure);
  // Takes back a session whose last operation completed.
  void Release(CK_SESSION_HANDLE session);
  // Closes a session that must not be used again.
  void Discard(CK_SESSION_HANDLE session);

  // Reopens the anchor session and logs in again after the token was lost.
  // `seen_generation` is the generation the caller failed on, so that when
  // several threads see the same loss only the first one reconnects.
  bool Reconnect(uint64_t seen_generation, Failure* failure);
  uint64_t generation() const;

  // Returns the handles of the key with CKA_ID `id`, from the cache or by a
  // search on `session`. Fails with kNotFound when the token has no such key.
  bool ResolveKey(CK_SESSION_HANDLE session, const std::string& id,
                  KeyHandles* handles, Failure* failure);
  // Drops the cached handles of `id` and destroys its session copy.
  void ForgetKey(const std::string& id);

  // Compares `pin` with the PIN this pool logged in with, in constant time.
  bool PinEquals(const SecureBuffer& pin) const;

  CK_FUNCTION_LIST* functions() const { return module_->functions(); }
  Pkcs11Module& module() const { return *module_; }
  const TokenDescription& token() const { return token_; }
  size_t open_sessions() const;

 private:
  bool FindSlot(Failure* failure);
  bool OpenAnchorAndLogin(Failure* failure);
  bool OpenSession(CK_SESSION_HANDLE* session, Failure* failure);
  void CloseAll();

  std::shared_ptr<Pkcs11Module> module_;
  const std::string token_label_;
  const SecureBuffer pin_;
  const size_t max_sessions_;
  const bool session_key_copies_;
  TokenDescription token_;

  static constexpr std::chrono::milliseconds kFirstReconnectDelay{50};
  static constexpr std::chrono::milliseconds kMaxReconnectDelay{2000};

  mutable std::mutex mutex_;  // guards everything below
  std::chrono::steady_clock::time_point next_reconnect_{};
  std::chrono::milliseconds reconnect_delay_ = kFirstReconnectDelay;
  std::string last_reconnect_error_;
  CK_SESSION_HANDLE anchor_ = CK_INVALID_HANDLE;
  std::vector<CK_SESSION_HANDLE> idle_;
  size_t open_count_ = 0;  // work sessions, lent or idle
  uint64_t generation_ = 0;
  std::unordered_map<std::string, KeyHandles> keys_;
};

}  // namespace hsm_kms

#endif  // HSM_KMS_SESSION_POOL_H_
