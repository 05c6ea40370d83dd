#include "module_loader.h"

#include <dlfcn.h>

#include <map>

namespace hsm_kms {
namespace {

// Guards the registry and every C_Initialize and C_Finalize, so that a module
// is never initialized by one thread while another finalizes it.
std::mutex& RegistryMutex() {
  static std::mutex mutex;
  return mutex;
}

std::map<std::string, std::weak_ptr<Pkcs11Module>>& Registry() {
  static std::map<std::string, std::weak_ptr<Pkcs11Module>> registry;
  return registry;
}

}  // namespace

std::shared_ptr<Pkcs11Module> Pkcs11Module::Acquire(const std::string& path,
                                                    Failure* failure) {
  std::lock_guard<std::mutex> lock(RegistryMutex());
  auto found = Registry().find(path);
  if (found != Registry().end()) {
    if (auto existing = found->second.lock()) return existing;
  }

  std::unique_ptr<Pkcs11Module> module(new Pkcs11Module(path));
  if (!module->Load(failure) || !module->Initialize(failure)) {
    module->FinalizeAndUnload();
    return nullptr;
  }
  std::shared_ptr<Pkcs11Module> shared(module.release(), &Pkcs11Module::Release);
  Registry()[path] = shared;
  return shared;
}

// The deleter of the shared instance: finalizes under the registry lock, so
// that a concurrent Acquire of the same path waits and initializes afresh.
void Pkcs11Module::Release(Pkcs11Module* module) {
  std::lock_guard<std::mutex> lock(RegistryMutex());
  auto found = Registry().find(module->path_);
  if (found != Registry().end() && found->second.expired()) {
    Registry().erase(found);
  }
  module->FinalizeAndUnload();
  delete module;
}

bool Pkcs11Module::Load(Failure* failure) {
  library_ = dlopen(path_.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (library_ == nullptr) {
    const char* reason = dlerror();
    *failure = EngineFailure(
        FailureCategory::kNotFound,
        "Cannot load the PKCS#11 module " + path_ + ": " +
            (reason != nullptr ? reason : "unknown dlopen error") +
            ". Check the module path and that the library is installed.");
    return false;
  }

  auto get_function_list = reinterpret_cast<CK_C_GetFunctionList>(
      dlsym(library_, "C_GetFunctionList"));
  if (get_function_list == nullptr) {
    *failure = EngineFailure(
        FailureCategory::kUnsupported,
        "The library " + path_ +
            " exports no C_GetFunctionList, so it is not a PKCS#11 module.");
    return false;
  }
  CK_RV rv = get_function_list(&functions_);
  if (rv != CKR_OK || functions_ == nullptr) {
    *failure = Pkcs11Failure("C_GetFunctionList", rv);
    return false;
  }
  return true;
}

bool Pkcs11Module::Initialize(Failure* failure) {
  // Flag set with no mutex callbacks: the module must lock with OS
  // primitives, because several threads call into it at once.
  CK_C_INITIALIZE_ARGS args = {};
  args.flags = CKF_OS_LOCKING_OK;
  CK_RV rv = functions_->C_Initialize(&args);
  if (rv == CKR_CANT_LOCK) {
    // The module cannot lock for itself: initialize it for single-threaded
    // use and serialize every call on our side.
    CK_C_INITIALIZE_ARGS single_threaded = {};
    rv = functions_->C_Initialize(&single_threaded);
    needs_serialization_ = true;
  }
  if (rv == CKR_CRYPTOKI_ALREADY_INITIALIZED) {
    // Another library in this process (for example pkcs11js) initialized
    // the module first. Use it, and leave C_Finalize to that owner.
    owns_initialization_ = false;
    return true;
  }
  if (rv != CKR_OK) {
    *failure = Pkcs11Failure("C_Initialize", rv);
    return false;
  }
  owns_initialization_ = true;
  return true;
}

void Pkcs11Module::FinalizeAndUnload() {
  if (functions_ != nullptr && owns_initialization_) {
    // Callers drain their work before they drop the last reference, so no
    // other thread is inside the module here.
    functions_->C_Finalize(nullptr);
    owns_initialization_ = false;
  }
  functions_ = nullptr;
  if (library_ != nullptr) {
    dlclose(library_);
    library_ = nullptr;
  }
}

bool Pkcs11Module::ReinitializeIfSoleUser(
    const std::shared_ptr<Pkcs11Module>& self, Failure* failure) {
  std::lock_guard<std::mutex> lock(RegistryMutex());
  // The registry holds only a weak reference, so the caller's is the one.
  if (self.use_count() != 1 || !owns_initialization_) return false;
  functions_->C_Finalize(nullptr);
  owns_initialization_ = false;
  return Initialize(failure);
}

}  // namespace hsm_kms
