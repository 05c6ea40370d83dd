// The JavaScript Hsm class, one object per opened token. Every method copies
// its arguments into a Job on the JavaScript thread, queues it on the
// token's executor and returns a promise. Nothing here waits for the HSM.
#include <limits>
#include <string>
#include <utility>

#include "addon.h"

namespace hsm_kms {
namespace {

// Upper bounds on inputs. The KMS facade applies the tighter AWS limits;
// these only keep a direct caller from queueing unbounded memory.
constexpr size_t kMaxKeyIdBytes = 256;
constexpr size_t kMaxLabelBytes = 256;
constexpr size_t kMaxDataBytes = 1 << 20;
constexpr size_t kMaxAadBytes = 1 << 20;
constexpr size_t kMaxRandomBytes = 1 << 16;
constexpr size_t kMaxPrefixBytes = 1 << 12;

struct ByteView {
  const uint8_t* data;
  size_t size;
};

// Returns the bytes of argument `index`, which must be a Uint8Array (a
// Buffer is one) of `min_size` to `max_size` bytes. It makes two Node-API
// calls; node-addon-api's IsTypedArray, TypedArrayType and As<Uint8Array>
// make four, and this runs for every argument of every request.
ByteView ReadBytes(const Napi::CallbackInfo& info, size_t index,
                   const char* name, size_t min_size, size_t max_size) {
  napi_env env = info.Env();
  napi_value value = info[index];
  bool is_typed_array = false;
  napi_typedarray_type type = napi_int8_array;
  size_t length = 0;
  void* data = nullptr;
  if (index >= info.Length() ||
      napi_is_typedarray(env, value, &is_typed_array) != napi_ok ||
      !is_typed_array ||
      napi_get_typedarray_info(env, value, &type, &length, &data, nullptr,
                               nullptr) != napi_ok ||
      type != napi_uint8_array) {
    throw Napi::TypeError::New(
        env, std::string("Expected ") + name + " to be a Uint8Array");
  }
  if (length < min_size || length > max_size) {
    throw Napi::RangeError::New(
        env, std::string("Expected ") + name + " to have " +
                 std::to_string(min_size) + " to " + std::to_string(max_size) +
                 " bytes, but it has " + std::to_string(length));
  }
  return {static_cast<const uint8_t*>(data), length};
}

// Reads a key ID into `target`, reusing its allocation.
void ReadId(const Napi::CallbackInfo& info, size_t index, const char* name,
            std::string* target) {
  ByteView view = ReadBytes(info, index, name, 1, kMaxKeyIdBytes);
  target->assign(reinterpret_cast<const char*>(view.data), view.size);
}

// Reads bytes into `target`, reusing its allocation.
void ReadVector(const Napi::CallbackInfo& info, size_t index, const char* name,
                size_t min_size, size_t max_size, std::vector<uint8_t>* target) {
  ByteView view = ReadBytes(info, index, name, min_size, max_size);
  target->assign(view.data, view.data + view.size);
}

size_t ReadSize(const Napi::CallbackInfo& info, size_t index, const char* name,
                size_t max_value) {
  Napi::Env env = info.Env();
  if (index >= info.Length() || !info[index].IsNumber()) {
    throw Napi::TypeError::New(env,
                               std::string("Expected ") + name + " to be a number");
  }
  double value = info[index].As<Napi::Number>().DoubleValue();
  if (!(value >= 1 && value <= static_cast<double>(max_value)) ||
      value != static_cast<double>(static_cast<size_t>(value))) {
    throw Napi::RangeError::New(
        env, std::string("Expected ") + name + " to be an integer from 1 to " +
                 std::to_string(max_value));
  }
  return static_cast<size_t>(value);
}

// Copies a string or Uint8Array secret without an intermediate std::string,
// so that no unwiped copy is left in the native heap.
SecureBuffer ReadSecret(Napi::Env env, Napi::Value value, const char* name) {
  if (value.IsTypedArray() &&
      value.As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array) {
    auto array = value.As<Napi::Uint8Array>();
    return SecureBuffer(array.Data(), array.ByteLength());
  }
  if (!value.IsString()) {
    throw Napi::TypeError::New(
        env, std::string("Expected ") + name + " to be a string or Uint8Array");
  }
  size_t length = 0;
  NAPI_THROW_IF_FAILED(env,
                       napi_get_value_string_utf8(env, value, nullptr, 0, &length),
                       SecureBuffer());
  SecureBuffer secret;
  secret.Reset(length + 1);
  NAPI_THROW_IF_FAILED(
      env,
      napi_get_value_string_utf8(env, value,
                                 reinterpret_cast<char*>(secret.data()),
                                 length + 1, &length),
      SecureBuffer());
  secret.Truncate(length);
  return secret;
}

Napi::Object DescribeToken(Napi::Env env, const TokenDescription& token) {
  Napi::Object description = Napi::Object::New(env);
  description.Set("slot", Napi::Number::New(env, static_cast<double>(token.slot)));
  description.Set("label", token.label);
  description.Set("manufacturer", token.manufacturer);
  description.Set("model", token.model);
  description.Set("serialNumber", token.serial_number);
  return description;
}

class HsmWrap : public Napi::ObjectWrap<HsmWrap> {
 public:
  static Napi::Function DefineClass(Napi::Env env) {
    return ObjectWrap<HsmWrap>::DefineClass(
        env, "Hsm",
        {
            InstanceMethod<&HsmWrap::Encrypt>("encrypt"),
            InstanceMethod<&HsmWrap::DecryptWithTail>("decrypt"),
            InstanceMethod<&HsmWrap::ReEncrypt>("reEncrypt"),
            InstanceMethod<&HsmWrap::GenerateDataKey>("generateDataKey"),
            InstanceMethod<&HsmWrap::GenerateRandom>("generateRandom"),
            InstanceMethod<&HsmWrap::GenerateKey>("generateKey"),
            InstanceMethod<&HsmWrap::ReplicateKey>("replicateKey"),
            InstanceMethod<&HsmWrap::DestroyKey>("destroyKey"),
            InstanceMethod<&HsmWrap::HasKey>("hasKey"),
            InstanceMethod<&HsmWrap::KeyAttributes>("keyAttributes"),
            InstanceMethod<&HsmWrap::Stats>("stats"),
            InstanceMethod<&HsmWrap::Close>("close"),
            InstanceAccessor<&HsmWrap::Token>("token"),
            InstanceAccessor<&HsmWrap::IsOpen>("isOpen"),
        });
  }

  explicit HsmWrap(const Napi::CallbackInfo& info) : ObjectWrap<HsmWrap>(info) {
    Napi::Env env = info.Env();
    if (info.Length() != 1 || !info[0].IsExternal()) {
      throw Napi::TypeError::New(
          env, "Hsm objects are created by openHsm(), not by new Hsm()");
    }
    auto* executor =
        info[0].As<Napi::External<std::shared_ptr<HsmExecutor>>>().Data();
    slot_ = std::make_shared<HsmSlot>();
    slot_->executor = *executor;
    token_ = slot_->executor->token();
    GetAddonData(env).slots.push_back(slot_);
  }

  const std::shared_ptr<HsmExecutor>& executor() const { return slot_->executor; }

 private:
  std::unique_ptr<Job> NewJob(Napi::Env env, JobKind kind) {
    const std::shared_ptr<CompletionQueue>& completions = GetAddonData(env).completions;
    std::unique_ptr<Job> job = completions->TakeJob();
    job->kind = kind;
    // A reused job already refers to this queue.
    if (job->completions != completions) job->completions = completions;
    return job;
  }

  // Queues the job and returns its promise. A job that cannot be queued
  // (HSM closed, queue full) rejects at once, without touching the HSM.
  Napi::Value Submit(Napi::Env env, std::unique_ptr<Job> job) {
    napi_value promise;
    NAPI_THROW_IF_FAILED(env, napi_create_promise(env, &job->deferred, &promise),
                         env.Undefined());
    napi_deferred deferred = job->deferred;
    AddonData& data = GetAddonData(env);

    Failure failure;
    if (!slot_->executor) {
      failure = EngineFailure(FailureCategory::kClosed,
                              "The HSM \"" + token_.label + "\" is closed");
    } else if ((job->kind == JobKind::kReEncrypt || job->kind == JobKind::kReplicateKey) &&
               !job->destination) {
      failure = EngineFailure(FailureCategory::kClosed, "The destination HSM is closed");
    } else if (slot_->executor->Submit(job, &failure)) {
      data.completions->JobStarted();
      return Napi::Value(env, promise);
    }
    data.completions->ReturnJob(std::move(job));
    NAPI_THROW_IF_FAILED(
        env, napi_reject_deferred(env, deferred, ToJsError(env, data.errors, failure)),
        env.Undefined());
    return Napi::Value(env, promise);
  }

  // encrypt(keyId, aad, plaintext, aadTail?, outputPrefix?)
  //   -> Promise<Buffer: outputPrefix || IV || ciphertext || tag>
  // The AAD is aad || aadTail. Both optional parts spare the caller a
  // concatenation per request (the KMS layer passes its blob header).
  Napi::Value Encrypt(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto job = NewJob(env, JobKind::kEncrypt);
    ReadId(info, 0, "keyId", &job->key_id);
    ReadVector(info, 1, "aad", 1, kMaxAadBytes, &job->aad);
    ByteView plaintext = ReadBytes(info, 2, "plaintext", 0, kMaxDataBytes);
    AppendOptional(info, 3, "aadTail", kMaxAadBytes, &job->aad);
    AppendOptional(info, 4, "outputPrefix", kMaxPrefixBytes, &job->output);
    job->secret_input.Assign(plaintext.data, plaintext.size);
    // Output buffers are allocated here, on the thread that frees them:
    // memory allocated on the executor thread and freed on this one costs
    // glibc arena locking on every request.
    job->output.reserve(job->output.size() + kGcmIvBytesForBinding + plaintext.size + kTagBytesForBinding);
    return Submit(env, std::move(job));
  }

  // Appends an optional Uint8Array argument to `target`; undefined adds nothing.
  static void AppendOptional(const Napi::CallbackInfo& info, size_t index, const char* name,
                             size_t max_size, std::vector<uint8_t>* target) {
    if (index >= info.Length() || info[index].IsUndefined()) return;
    ByteView view = ReadBytes(info, index, name, 0, max_size);
    target->insert(target->end(), view.data, view.data + view.size);
  }


  // reEncrypt(keyId, aad, iv, ciphertextAndTag, destination, destinationKeyId,
  //           destinationAad) -> Promise<Buffer: IV || ciphertext || tag>
  Napi::Value ReEncrypt(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto job = NewJob(env, JobKind::kReEncrypt);
    ReadDecryptArguments(info, job.get());
    job->destination = ReadDestination(info, 4);
    ReadId(info, 5, "destinationKeyId", &job->destination_key_id);
    ReadVector(info, 6, "destinationAad", 1, kMaxAadBytes, &job->destination_aad);
    return Submit(env, std::move(job));
  }

  void ReadDecryptArguments(const Napi::CallbackInfo& info, Job* job) {
    ReadId(info, 0, "keyId", &job->key_id);
    ReadVector(info, 1, "aad", 1, kMaxAadBytes, &job->aad);
    ReadVector(info, 2, "iv", kGcmIvBytesForBinding, kGcmIvBytesForBinding,
               &job->iv);
    ReadVector(info, 3, "ciphertext", kTagBytesForBinding,
               kMaxDataBytes + kTagBytesForBinding, &job->ciphertext);
  }

  // decrypt(keyId, aad, iv, ciphertextAndTag, aadTail?) -> Promise<Buffer: plaintext>
  Napi::Value DecryptWithTail(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto job = NewJob(env, JobKind::kDecrypt);
    ReadDecryptArguments(info, job.get());
    AppendOptional(info, 4, "aadTail", kMaxAadBytes, &job->aad);
    // See Encrypt: the plaintext buffer is allocated on this thread.
    job->secret_output.Reserve(job->ciphertext.size());
    return Submit(env, std::move(job));
  }

  // generateDataKey(keyId, aad, numberOfBytes, returnPlaintext, aadTail?,
  //                 outputPrefix?)
  //   -> Promise<{ plaintext?: Buffer, ciphertext: Buffer }>
  Napi::Value GenerateDataKey(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto job = NewJob(env, JobKind::kGenerateDataKey);
    ReadId(info, 0, "keyId", &job->key_id);
    ReadVector(info, 1, "aad", 1, kMaxAadBytes, &job->aad);
    job->size = ReadSize(info, 2, "numberOfBytes", kMaxRandomBytes);
    if (info.Length() < 4 || !info[3].IsBoolean()) {
      throw Napi::TypeError::New(env, "Expected returnPlaintext to be a boolean");
    }
    job->return_plaintext = info[3].As<Napi::Boolean>().Value();
    AppendOptional(info, 4, "aadTail", kMaxAadBytes, &job->aad);
    AppendOptional(info, 5, "outputPrefix", kMaxPrefixBytes, &job->output);
    // See Encrypt: output buffers are allocated on this thread.
    job->secret_output.Reserve(job->size);
    job->output.reserve(job->output.size() + kGcmIvBytesForBinding + job->size + kTagBytesForBinding);
    return Submit(env, std::move(job));
  }

  // generateRandom(numberOfBytes) -> Promise<Buffer>
  Napi::Value GenerateRandom(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto job = NewJob(env, JobKind::kGenerateRandom);
    job->size = ReadSize(info, 0, "numberOfBytes", kMaxRandomBytes);
    return Submit(env, std::move(job));
  }

  // generateKey(keyId, label, replicable = false) -> Promise<void>
  Napi::Value GenerateKey(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto job = NewJob(env, JobKind::kGenerateKey);
    ReadId(info, 0, "keyId", &job->key_id);
    ByteView label = ReadBytes(info, 1, "label", 0, kMaxLabelBytes);
    job->label.assign(reinterpret_cast<const char*>(label.data), label.size);
    if (info.Length() > 2 && !info[2].IsUndefined()) {
      if (!info[2].IsBoolean()) {
        throw Napi::TypeError::New(env, "Expected replicable to be a boolean");
      }
      job->replicable = info[2].As<Napi::Boolean>().Value();
    }
    return Submit(env, std::move(job));
  }

  // replicateKey(keyId, wrappingKeyId, destination, label) -> Promise<boolean>
  // Copies the key to the destination HSM wrapped under the wrapping key;
  // resolves to false when the destination already had it.
  Napi::Value ReplicateKey(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto job = NewJob(env, JobKind::kReplicateKey);
    ReadId(info, 0, "keyId", &job->key_id);
    ReadId(info, 1, "wrappingKeyId", &job->wrapping_key_id);
    job->destination = ReadDestination(info, 2);
    ByteView label = ReadBytes(info, 3, "label", 0, kMaxLabelBytes);
    job->label.assign(reinterpret_cast<const char*>(label.data), label.size);
    return Submit(env, std::move(job));
  }

  std::shared_ptr<HsmExecutor> ReadDestination(const Napi::CallbackInfo& info, size_t index) {
    Napi::Env env = info.Env();
    if (info.Length() <= index || !info[index].IsObject() ||
        !info[index].As<Napi::Object>().InstanceOf(GetAddonData(env).hsm_constructor.Value())) {
      throw Napi::TypeError::New(env, "Expected destination to be an Hsm");
    }
    return HsmWrap::Unwrap(info[index].As<Napi::Object>())->executor();
  }

  // destroyKey(keyId) -> Promise<boolean: whether the key existed>
  Napi::Value DestroyKey(const Napi::CallbackInfo& info) {
    return SubmitKeyQuery(info, JobKind::kDestroyKey);
  }

  // hasKey(keyId) -> Promise<boolean>; searches the token, not the cache.
  Napi::Value HasKey(const Napi::CallbackInfo& info) {
    return SubmitKeyQuery(info, JobKind::kHasKey);
  }

  // keyAttributes(keyId) -> Promise<object>
  Napi::Value KeyAttributes(const Napi::CallbackInfo& info) {
    return SubmitKeyQuery(info, JobKind::kKeyAttributes);
  }

  Napi::Value SubmitKeyQuery(const Napi::CallbackInfo& info, JobKind kind) {
    Napi::Env env = info.Env();
    auto job = NewJob(env, kind);
    ReadId(info, 0, "keyId", &job->key_id);
    return Submit(env, std::move(job));
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!slot_->executor) {
      Failure closed = EngineFailure(FailureCategory::kClosed,
                                     "The HSM \"" + token_.label + "\" is closed");
      throw Napi::Error(env, ToJsError(env, GetAddonData(env).errors, closed));
    }
    ExecutorStats stats = slot_->executor->Stats();
    Napi::Object result = Napi::Object::New(env);
    auto number = [&](const char* name, double value) {
      result.Set(name, Napi::Number::New(env, value));
    };
    number("completed", static_cast<double>(stats.completed));
    number("failed", static_cast<double>(stats.failed));
    number("rejected", static_cast<double>(stats.rejected));
    number("queued", static_cast<double>(stats.queued));
    number("sessions", static_cast<double>(stats.sessions));
    number("threads", static_cast<double>(stats.threads));
    number("reconnects", static_cast<double>(stats.reconnects));
    number("busySeconds", static_cast<double>(stats.busy_nanoseconds) / 1e9);
    if (!stats.last_error.empty()) result.Set("lastError", stats.last_error);
    return result;
  }

  Napi::Value Token(const Napi::CallbackInfo& info) {
    return DescribeToken(info.Env(), token_);
  }

  Napi::Value IsOpen(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), slot_->executor != nullptr);
  }

  // close() -> Promise<void>. Resolves once this object's reference to the
  // token is released. When it was the last in the process, the queued jobs
  // have run, the sessions are closed and the module is finalized.
  Napi::Value Close(const Napi::CallbackInfo& info);

  static constexpr size_t kGcmIvBytesForBinding = 12;
  static constexpr size_t kTagBytesForBinding = 16;

  std::shared_ptr<HsmSlot> slot_;
  TokenDescription token_;
};

// Drops an executor reference off the JavaScript thread, because the last
// reference joins the executor's threads.
class CloseWorker : public Napi::AsyncWorker {
 public:
  CloseWorker(Napi::Env env, std::shared_ptr<HsmExecutor> executor)
      : Napi::AsyncWorker(env, "hsm-kms close"),
        executor_(std::move(executor)),
        deferred_(Napi::Promise::Deferred::New(env)) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override { executor_.reset(); }
  void OnOK() override { deferred_.Resolve(Env().Undefined()); }

 private:
  std::shared_ptr<HsmExecutor> executor_;
  Napi::Promise::Deferred deferred_;
};

Napi::Value HsmWrap::Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto* worker = new CloseWorker(env, std::move(slot_->executor));
  slot_->executor.reset();
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

// Logs in and starts the executor on a libuv thread: loading a module and
// C_Login can take seconds on a network HSM.
class OpenWorker : public Napi::AsyncWorker {
 public:
  OpenWorker(Napi::Env env, std::string module_path, std::string token_label,
             SecureBuffer pin, ExecutorOptions options)
      : Napi::AsyncWorker(env, "hsm-kms open"),
        module_path_(std::move(module_path)),
        token_label_(std::move(token_label)),
        pin_(std::move(pin)),
        options_(options),
        deferred_(Napi::Promise::Deferred::New(env)) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    executor_ = HsmExecutor::Open(module_path_, token_label_, std::move(pin_),
                                  options_, &failure_);
    if (!executor_) SetError(failure_.message);
  }

  void OnOK() override {
    Napi::Env env = Env();
    AddonData& data = GetAddonData(env);
    Napi::Object hsm = data.hsm_constructor.New(
        {Napi::External<std::shared_ptr<HsmExecutor>>::New(env, &executor_)});
    deferred_.Resolve(hsm);
  }

  void OnError(const Napi::Error&) override {
    Napi::Env env = Env();
    deferred_.Reject(ToJsError(env, GetAddonData(env).errors, failure_));
  }

 private:
  std::string module_path_;
  std::string token_label_;
  SecureBuffer pin_;
  ExecutorOptions options_;
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<HsmExecutor> executor_;
  Failure failure_;
};

size_t OptionalCount(Napi::Env env, Napi::Object options, const char* name,
                     size_t fallback, size_t max_value) {
  Napi::Value value = options.Get(name);
  if (value.IsUndefined()) return fallback;
  double number = value.IsNumber() ? value.As<Napi::Number>().DoubleValue() : -1;
  if (!(number >= 1 && number <= static_cast<double>(max_value)) ||
      number != static_cast<double>(static_cast<size_t>(number))) {
    throw Napi::RangeError::New(env, std::string("Expected options.") + name +
                                         " to be an integer from 1 to " +
                                         std::to_string(max_value));
  }
  return static_cast<size_t>(number);
}

std::string RequiredString(Napi::Env env, Napi::Object options,
                           const char* name) {
  Napi::Value value = options.Get(name);
  if (!value.IsString() || value.As<Napi::String>().Utf8Value().empty()) {
    throw Napi::TypeError::New(
        env, std::string("Expected options.") + name + " to be a non-empty string");
  }
  return value.As<Napi::String>().Utf8Value();
}

// openHsm({ module, tokenLabel, pin, sessions?, maxQueue?,
//           sessionKeyCopies?, hsmGeneratesIv? }) -> Promise<Hsm>
Napi::Value OpenHsm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 1 || !info[0].IsObject()) {
    throw Napi::TypeError::New(env, "openHsm expects an options object");
  }
  Napi::Object options = info[0].As<Napi::Object>();
  std::string module_path = RequiredString(env, options, "module");
  std::string token_label = RequiredString(env, options, "tokenLabel");
  SecureBuffer pin = ReadSecret(env, options.Get("pin"), "options.pin");

  ExecutorOptions executor_options;
  executor_options.threads = OptionalCount(env, options, "sessions", 1, 256);
  executor_options.max_queue =
      OptionalCount(env, options, "maxQueue", executor_options.max_queue,
                    std::numeric_limits<uint32_t>::max());
  Napi::Value copies = options.Get("sessionKeyCopies");
  executor_options.session_key_copies =
      copies.IsUndefined() || copies.ToBoolean().Value();
  executor_options.hsm_generates_iv =
      options.Get("hsmGeneratesIv").ToBoolean().Value();
  Napi::Value spin = options.Get("idleSpinMicroseconds");
  if (!spin.IsUndefined()) {
    double microseconds = spin.IsNumber() ? spin.As<Napi::Number>().DoubleValue() : -1;
    if (!(microseconds >= 0 && microseconds <= 100000)) {
      throw Napi::RangeError::New(
          env, "Expected options.idleSpinMicroseconds to be a number from 0 to 100000");
    }
    executor_options.idle_spin_microseconds = static_cast<uint32_t>(microseconds);
  }

  auto* worker = new OpenWorker(env, std::move(module_path),
                                std::move(token_label), std::move(pin),
                                executor_options);
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

Napi::Object AttributesToJs(Napi::Env env, const KeyAttributes& attributes) {
  Napi::Object result = Napi::Object::New(env);
  result.Set("label", attributes.label);
  result.Set("valueLength",
             Napi::Number::New(env, static_cast<double>(attributes.value_length)));
  result.Set("token", attributes.token);
  result.Set("private", attributes.is_private);
  result.Set("sensitive", attributes.sensitive);
  result.Set("extractable", attributes.extractable);
  result.Set("alwaysSensitive", attributes.always_sensitive);
  result.Set("neverExtractable", attributes.never_extractable);
  result.Set("encrypt", attributes.encrypt);
  result.Set("decrypt", attributes.decrypt);
  result.Set("wrap", attributes.wrap);
  result.Set("unwrap", attributes.unwrap);
  result.Set("sign", attributes.sign);
  result.Set("verify", attributes.verify);
  result.Set("derive", attributes.derive);
  result.Set("wrapWithTrusted", attributes.wrap_with_trusted);
  return result;
}

Napi::Value CopyToBuffer(Napi::Env env, const uint8_t* data, size_t size) {
  return Napi::Buffer<uint8_t>::Copy(env, data, size);
}

Napi::Value ResultOf(Napi::Env env, Job& job) {
  switch (job.kind) {
    case JobKind::kEncrypt:
    case JobKind::kReEncrypt:
    case JobKind::kGenerateRandom:
      return CopyToBuffer(env, job.output.data(), job.output.size());
    case JobKind::kDecrypt:
      return CopyToBuffer(env, job.secret_output.data(), job.secret_output.size());
    case JobKind::kGenerateDataKey: {
      Napi::Object result = Napi::Object::New(env);
      result.Set("ciphertext",
                 CopyToBuffer(env, job.output.data(), job.output.size()));
      if (job.return_plaintext) {
        result.Set("plaintext", CopyToBuffer(env, job.secret_output.data(),
                                             job.secret_output.size()));
      }
      return result;
    }
    case JobKind::kGenerateKey:
      return env.Undefined();
    case JobKind::kDestroyKey:
    case JobKind::kHasKey:
    case JobKind::kReplicateKey:
      return Napi::Boolean::New(env, job.found);
    case JobKind::kKeyAttributes:
      return AttributesToJs(env, job.attributes);
  }
  return env.Undefined();
}

}  // namespace

// Never throws: it runs from a libuv callback, where an exception would end
// the process. A failure to settle means the environment is shutting down
// (for example, a worker_thread being terminated), and the promise cannot be
// observed any more.
void SettleJob(Napi::Env env, Job& job) {
  napi_value outcome = nullptr;
  bool resolve = !job.failure;
  try {
    outcome = resolve ? ResultOf(env, job)
                      : ToJsError(env, GetAddonData(env).errors, *job.failure);
  } catch (const Napi::Error& error) {
    // Building the result failed (for example, out of memory): reject with
    // that error rather than leave the promise pending.
    resolve = false;
    outcome = error.Value();
  }
  if (outcome == nullptr) return;
  if (resolve) {
    napi_resolve_deferred(env, job.deferred, outcome);
  } else {
    napi_reject_deferred(env, job.deferred, outcome);
  }
}

void InitHsmBinding(Napi::Env env, Napi::Object exports, AddonData& data) {
  Napi::Function hsm_class = HsmWrap::DefineClass(env);
  data.hsm_constructor = Napi::Persistent(hsm_class);
  exports.Set("Hsm", hsm_class);
  exports.Set("openHsm", Napi::Function::New(env, OpenHsm));
}

}  // namespace hsm_kms
