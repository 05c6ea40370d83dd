// Loading of PKCS#11 modules. PKCS#11 allows one C_Initialize per process,
// while Node may load this addon once per worker_thread, so every loaded
// module is shared by the whole process and finalized when its last user is
// gone.
#ifndef HSM_KMS_MODULE_LOADER_H_
#define HSM_KMS_MODULE_LOADER_H_

#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "errors.h"
#include "pkcs11_api.h"

namespace hsm_kms {

class Pkcs11Module {
 public:
  // Returns the process-wide instance for `path`, loading the library and
  // calling C_Initialize with CKF_OS_LOCKING_OK on first use. Returns null
  // and fills `failure` when the library cannot be loaded or initialized.
  static std::shared_ptr<Pkcs11Module> Acquire(const std::string& path,
                                               Failure* failure);

  Pkcs11Module(const Pkcs11Module&) = delete;
  Pkcs11Module& operator=(const Pkcs11Module&) = delete;

  CK_FUNCTION_LIST* functions() const { return functions_; }
  const std::string& path() const { return path_; }

  // Finalizes and initializes the module again, which makes modules such as
  // SoftHSM2 rescan their token folder. Refused (returns false) while other
  // holders share this instance, because C_Finalize would pull their
  // sessions away.
  bool ReinitializeIfSoleUser(const std::shared_ptr<Pkcs11Module>& self,
                              Failure* failure);

  // A module that returned CKR_CANT_LOCK runs without its own locking, and
  // the returned lock then serialises every call into it. Empty otherwise.
  std::optional<std::unique_lock<std::mutex>> SerializeCall() {
    if (!needs_serialization_) return std::nullopt;
    return std::unique_lock<std::mutex>(call_mutex_);
  }

 private:
  explicit Pkcs11Module(std::string path) : path_(std::move(path)) {}
  bool Load(Failure* failure);
  bool Initialize(Failure* failure);
  void FinalizeAndUnload();
  static void Release(Pkcs11Module* module);

  std::string path_;
  void* library_ = nullptr;
  CK_FUNCTION_LIST* functions_ = nullptr;
  // False when another component of the process had already initialized the
  // module; this instance must then never call C_Finalize.
  bool owns_initialization_ = false;
  bool needs_serialization_ = false;
  std::mutex call_mutex_;
};

}  // namespace hsm_kms

#endif  // HSM_KMS_MODULE_LOADER_H_
