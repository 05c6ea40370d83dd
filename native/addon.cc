// Entry point of the hsm_kms addon.
#include "addon.h"

namespace hsm_kms {
namespace {

// Installs the error classes that native failures are reported with. The
// classes are defined in JavaScript (src/native.ts), so `instanceof` and
// stack traces behave like any JavaScript error.
Napi::Value SetErrorClasses(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 2 || !info[0].IsFunction() || !info[1].IsFunction()) {
    throw Napi::TypeError::New(
        env, "setErrorClasses expects (Pkcs11Error, HsmError) constructors");
  }
  AddonData& data = GetAddonData(env);
  data.errors.pkcs11_error = Napi::Persistent(info[0].As<Napi::Function>());
  data.errors.hsm_error = Napi::Persistent(info[1].As<Napi::Function>());
  return env.Undefined();
}

// Stops every executor of the process; the JavaScript layer calls it from
// the main thread's 'exit' event.
Napi::Value Shutdown(const Napi::CallbackInfo& info) {
  HsmExecutor::StopAll();
  return info.Env().Undefined();
}

Napi::Value RvNameOf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 1 || !info[0].IsNumber()) {
    throw Napi::TypeError::New(env, "rvName expects a number");
  }
  double rv = info[0].As<Napi::Number>().DoubleValue();
  return Napi::String::New(env, RvName(static_cast<CK_RV>(rv)));
}

void TearDown(AddonData* data) {
  // Results that arrive from now on are dropped, then every executor this
  // environment still holds is released (the last holder drains and joins).
  data->completions->Close();
  for (std::weak_ptr<HsmSlot>& weak_slot : data->slots) {
    if (std::shared_ptr<HsmSlot> slot = weak_slot.lock()) {
      slot->executor.reset();
    }
  }
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData();
  env.SetInstanceData<AddonData>(data);
  data->completions = CompletionQueue::Create(env, SettleJob);
  env.AddCleanupHook(TearDown, data);

  exports.Set("setErrorClasses", Napi::Function::New(env, SetErrorClasses));
  exports.Set("rvName", Napi::Function::New(env, RvNameOf));
  exports.Set("shutdown", Napi::Function::New(env, Shutdown));
  InitHsmBinding(env, exports, *data);
  InitTokenBucketBinding(env, exports, *data);
  InitWrappingKeyBinding(env, exports);
  return exports;
}

AddonData& GetAddonData(Napi::Env env) {
  return *env.GetInstanceData<AddonData>();
}

}  // namespace hsm_kms

// NODE_API_MODULE pastes the name of the function into an identifier, so it
// takes an unqualified name.
static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) {
  return hsm_kms::Init(env, exports);
}

NODE_API_MODULE(NODE_GYP_MODULE_NAME, InitAddon)
