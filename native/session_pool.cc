#include "session_pool.h"

#include <algorithm>
#include <utility>

#include "key_objects.h"

namespace hsm_kms {
namespace {

// Token info strings are fixed-size and padded with spaces, not terminated.
std::string FromPadded(const CK_UTF8CHAR* field, size_t size) {
  std::string value(reinterpret_cast<const char*>(field), size);
  size_t end = value.find_last_not_of(' ');
  value.erase(end == std::string::npos ? 0 : end + 1);
  return value;
}

constexpr CK_FLAGS kSessionFlags = CKF_SERIAL_SESSION | CKF_RW_SESSION;

}  // namespace

SessionPool::SessionPool(std::shared_ptr<Pkcs11Module> module,
                         std::string token_label, SecureBuffer pin,
                         size_t max_sessions, bool session_key_copies)
    : module_(std::move(module)),
      token_label_(std::move(token_label)),
      pin_(std::move(pin)),
      max_sessions_(max_sessions),
      session_key_copies_(session_key_copies) {}

SessionPool::~SessionPool() {
  std::lock_guard<std::mutex> lock(mutex_);
  CloseAll();
}

// Closes idle work sessions first and the anchor last, because closing the
// last session of a token logs the user out.
void SessionPool::CloseAll() {
  CK_FUNCTION_LIST* p11 = functions();
  for (CK_SESSION_HANDLE session : idle_) p11->C_CloseSession(session);
  open_count_ -= std::min(open_count_, idle_.size());
  idle_.clear();
  // Session copies of keys belong to the anchor and close with it.
  keys_.clear();
  if (anchor_ != CK_INVALID_HANDLE) {
    p11->C_CloseSession(anchor_);
    anchor_ = CK_INVALID_HANDLE;
  }
}

bool FindTokenSlot(Pkcs11Module& module, const std::string& label,
                   TokenDescription* token, Failure* failure) {
  CK_FUNCTION_LIST* p11 = module.functions();
  CK_ULONG count = 0;
  CK_RV rv = p11->C_GetSlotList(CK_TRUE, nullptr, &count);
  if (rv != CKR_OK) {
    *failure = Pkcs11Failure("C_GetSlotList", rv);
    return false;
  }
  std::vector<CK_SLOT_ID> slots(count);
  rv = p11->C_GetSlotList(CK_TRUE, slots.data(), &count);
  if (rv != CKR_OK) {
    *failure = Pkcs11Failure("C_GetSlotList", rv);
    return false;
  }
  slots.resize(count);

  for (CK_SLOT_ID slot : slots) {
    CK_TOKEN_INFO info;
    rv = p11->C_GetTokenInfo(slot, &info);
    if (rv != CKR_OK) continue;  // a slot emptied since the list was read
    if (FromPadded(info.label, sizeof(info.label)) != label) continue;
    if ((info.flags & CKF_USER_PIN_LOCKED) != 0) {
      *failure = Pkcs11Failure("C_GetTokenInfo", CKR_PIN_LOCKED);
      failure->message = "The user PIN of token \"" + label +
                         "\" is locked; the security officer must reset it";
      return false;
    }
    token->slot = slot;
    token->label = label;
    token->manufacturer = FromPadded(info.manufacturerID,
                                     sizeof(info.manufacturerID));
    token->model = FromPadded(info.model, sizeof(info.model));
    token->serial_number = FromPadded(info.serialNumber,
                                      sizeof(info.serialNumber));
    return true;
  }
  *failure = EngineFailure(FailureCategory::kNotFound,
                           "No token labelled \"" + label +
                               "\" is present in the PKCS#11 module " +
                               module.path() +
                               "; check the tokenLabel and the module's "
                               "configuration");
  return false;
}

bool SessionPool::FindSlot(Failure* failure) {
  return FindTokenSlot(*module_, token_label_, &token_, failure);
}

bool SessionPool::OpenAnchorAndLogin(Failure* failure) {
  CK_FUNCTION_LIST* p11 = functions();
  CK_RV rv = p11->C_OpenSession(token_.slot, kSessionFlags, nullptr, nullptr,
                                &anchor_);
  if (rv != CKR_OK) {
    anchor_ = CK_INVALID_HANDLE;
    *failure = Pkcs11Failure("C_OpenSession", rv);
    return false;
  }
  rv = p11->C_Login(anchor_, CKU_USER, const_cast<uint8_t*>(pin_.data()),
                    pin_.size());
  // Login state is shared by every session of the process on this token:
  // another pool, or a previous connection, may have logged in already.
  if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
    *failure = Pkcs11Failure("C_Login", rv);
    failure->message += " for token \"" + token_label_ + "\"";
    if (failure->category == FailureCategory::kCredentials) {
      failure->message += "; check the crypto user's PIN";
    }
    p11->C_CloseSession(anchor_);
    anchor_ = CK_INVALID_HANDLE;
    return false;
  }
  return true;
}

bool SessionPool::Connect(Failure* failure) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!FindSlot(failure)) {
    // A module may miss a token that another process created or touched
    // while this one started (seen with SoftHSM2 2.6). Finalizing and
    // initializing again makes it rescan, which is safe only while no other
    // pool of this process uses the module.
    if (failure->category != FailureCategory::kNotFound ||
        !module_->ReinitializeIfSoleUser(module_, failure) ||
        !FindSlot(failure)) {
      return false;
    }
  }
  return OpenAnchorAndLogin(failure);
}

bool SessionPool::OpenSession(CK_SESSION_HANDLE* session, Failure* failure) {
  CK_RV rv = functions()->C_OpenSession(token_.slot, kSessionFlags, nullptr,
                                        nullptr, session);
  if (rv != CKR_OK) {
    *failure = Pkcs11Failure("C_OpenSession", rv);
    return false;
  }
  return true;
}

bool SessionPool::Acquire(CK_SESSION_HANDLE* session, Failure* failure) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!idle_.empty()) {
    *session = idle_.back();
    idle_.pop_back();
    return true;
  }
  if (open_count_ >= max_sessions_) {
    *failure = EngineFailure(FailureCategory::kBusy,
                             "All sessions of token \"" + token_label_ +
                                 "\" are in use");
    return false;
  }
  if (anchor_ == CK_INVALID_HANDLE) {
    *failure = EngineFailure(FailureCategory::kDevice,
                             "Token \"" + token_label_ +
                                 "\" is not logged in; it will be retried");
    return false;
  }
  if (!OpenSession(session, failure)) return false;
  ++open_count_;
  return true;
}

void SessionPool::Release(CK_SESSION_HANDLE session) {
  std::lock_guard<std::mutex> lock(mutex_);
  idle_.push_back(session);
}

void SessionPool::Discard(CK_SESSION_HANDLE session) {
  // The result is ignored: the session is abandoned whether or not the
  // module still knew it.
  functions()->C_CloseSession(session);
  std::lock_guard<std::mutex> lock(mutex_);
  if (open_count_ > 0) --open_count_;
}

bool SessionPool::Reconnect(uint64_t seen_generation, Failure* failure) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (generation_ != seen_generation && anchor_ != CK_INVALID_HANDLE) {
    return true;  // another thread reconnected after this one failed
  }
  // While the token stays away, jobs fail fast instead of each one calling
  // into the module again; the wait doubles up to kMaxReconnectDelay.
  auto now = std::chrono::steady_clock::now();
  if (anchor_ == CK_INVALID_HANDLE && now < next_reconnect_) {
    *failure = EngineFailure(FailureCategory::kDevice,
                             "Token \"" + token_label_ + "\" is unavailable (" +
                                 last_reconnect_error_ + "); it will be tried again shortly");
    return false;
  }

  CloseAll();
  ++generation_;
  Failure attempt;
  if (FindSlot(&attempt) && OpenAnchorAndLogin(&attempt)) {
    reconnect_delay_ = kFirstReconnectDelay;
    return true;
  }
  // Whatever the module returned, the token is what is missing, not a key
  // or a credential, so the caller gets a device failure.
  last_reconnect_error_ = attempt.message;
  next_reconnect_ = now + reconnect_delay_;
  reconnect_delay_ = std::min(reconnect_delay_ * 2, kMaxReconnectDelay);
  *failure = EngineFailure(FailureCategory::kDevice,
                           "Token \"" + token_label_ + "\" is unavailable: " + attempt.message);
  if (attempt.category == FailureCategory::kCredentials ||
      attempt.category == FailureCategory::kLocked) {
    failure->category = attempt.category;
  }
  return false;
}

uint64_t SessionPool::generation() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return generation_;
}

size_t SessionPool::open_sessions() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return open_count_;
}

bool SessionPool::ResolveKey(CK_SESSION_HANDLE session, const std::string& id,
                             KeyHandles* handles, Failure* failure) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto cached = keys_.find(id);
  if (cached != keys_.end()) {
    *handles = cached->second;
    return true;
  }

  // A miss searches and copies under the lock, so no thread of this pool
  // searches while another makes a session copy, which SoftHSM2 can show
  // as a second token object for a moment. SoftHSM2 reads every object
  // file of the token on each search, which is why the result is cached.
  CK_FUNCTION_LIST* p11 = functions();
  KeyHandles found;
  if (!FindKeyById(p11, session, id, &found.token_object, failure)) {
    return false;
  }
  if (found.token_object == CK_INVALID_HANDLE) {
    *failure = EngineFailure(FailureCategory::kNotFound,
                             "No AES key with this CKA_ID is in token \"" +
                                 token_label_ + "\"");
    return false;
  }
  found.for_crypto = found.token_object;
  if (session_key_copies_ && anchor_ != CK_INVALID_HANDLE) {
    // SoftHSM2 re-reads the token files on every use of a token object, but
    // not of a session object; the copy lives with the anchor session.
    CK_OBJECT_HANDLE copy = CK_INVALID_HANDLE;
    Failure ignored;
    if (CopyToSessionObject(p11, anchor_, found.token_object, &copy,
                            &ignored)) {
      found.for_crypto = copy;
    }
    // NOTE: a module that refuses the copy is used through the token object.
  }
  keys_.emplace(id, found);
  *handles = found;
  return true;
}

void SessionPool::ForgetKey(const std::string& id) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto cached = keys_.find(id);
  if (cached == keys_.end()) return;
  const KeyHandles& handles = cached->second;
  if (handles.for_crypto != handles.token_object &&
      anchor_ != CK_INVALID_HANDLE) {
    functions()->C_DestroyObject(anchor_, handles.for_crypto);
  }
  keys_.erase(cached);
}

bool SessionPool::PinEquals(const SecureBuffer& pin) const {
  if (pin.size() != pin_.size()) return false;
  uint8_t difference = 0;
  for (size_t i = 0; i < pin.size(); ++i) {
    difference |= static_cast<uint8_t>(pin.data()[i] ^ pin_.data()[i]);
  }
  return difference == 0;
}

}  // namespace hsm_kms
