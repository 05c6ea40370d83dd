// Per-environment state of the addon. Node creates one environment for the
// main thread and one per worker_thread, and each loads the addon anew;
// process-wide state (modules, executors, buckets) lives elsewhere.
#ifndef HSM_KMS_ADDON_H_
#define HSM_KMS_ADDON_H_

#include <napi.h>

#include <memory>
#include <vector>

#include "completion_queue.h"
#include "errors.h"
#include "hsm_executor.h"

namespace hsm_kms {

// The executor held by one JavaScript Hsm object. Environment teardown
// empties every slot, so executors stop even if their objects are never
// garbage-collected.
struct HsmSlot {
  std::shared_ptr<HsmExecutor> executor;
};

struct AddonData {
  ErrorClasses errors;
  std::shared_ptr<CompletionQueue> completions;
  Napi::FunctionReference hsm_constructor;
  Napi::FunctionReference token_bucket_constructor;
  std::vector<std::weak_ptr<HsmSlot>> slots;
};

AddonData& GetAddonData(Napi::Env env);

// Creates the per-environment state and fills `exports`.
Napi::Object Init(Napi::Env env, Napi::Object exports);

// Registers the Hsm class and openHsm on `exports`.
void InitHsmBinding(Napi::Env env, Napi::Object exports, AddonData& data);
// Registers the TokenBucket class on `exports`.
void InitTokenBucketBinding(Napi::Env env, Napi::Object exports,
                            AddonData& data);

// Registers createWrappingKey on `exports`.
void InitWrappingKeyBinding(Napi::Env env, Napi::Object exports);

// Settles the promise of a finished job (installed in the completion queue).
void SettleJob(Napi::Env env, Job& job);

}  // namespace hsm_kms

#endif  // HSM_KMS_ADDON_H_
