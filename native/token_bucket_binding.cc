// The JavaScript TokenBucket class over the process-wide buckets.
#include <string>

#include "addon.h"
#include "token_bucket.h"

namespace hsm_kms {
namespace {

// Reads a number from `minimum_text` (the minimum, as written in messages)
// to 1e9; `integer` also rejects fractions.
double ReadNumber(const Napi::CallbackInfo& info, size_t index,
                  const char* name, double minimum, const char* minimum_text,
                  bool integer) {
  Napi::Env env = info.Env();
  double value = index < info.Length() && info[index].IsNumber()
                     ? info[index].As<Napi::Number>().DoubleValue()
                     : -1;
  bool in_range = value >= minimum && value <= 1e9;
  if (!in_range || (integer && value != static_cast<double>(
                                             static_cast<int64_t>(value)))) {
    throw Napi::RangeError::New(
        env, std::string("Expected ") + name + " to be " +
                 (integer ? "an integer" : "a number") + " from " +
                 minimum_text + " to 1e9");
  }
  return value;
}

double ReadRate(const Napi::CallbackInfo& info, size_t index) {
  return ReadNumber(info, index, "requestsPerSecond", 0.001, "0.001", false);
}

double ReadBurst(const Napi::CallbackInfo& info, size_t index) {
  return ReadNumber(info, index, "burst", 1, "1", false);
}

class TokenBucketWrap : public Napi::ObjectWrap<TokenBucketWrap> {
 public:
  static Napi::Function DefineClass(Napi::Env env) {
    return ObjectWrap<TokenBucketWrap>::DefineClass(
        env, "TokenBucket",
        {
            InstanceMethod<&TokenBucketWrap::TryAcquire>("tryAcquire"),
            InstanceMethod<&TokenBucketWrap::Configure>("configure"),
            InstanceMethod<&TokenBucketWrap::Stats>("stats"),
        });
  }

  // new TokenBucket(name, requestsPerSecond, burst, sharedPath?): every
  // object with the same name, in any thread of the process, shares one
  // bucket. With `sharedPath`, the bucket lives in that file, mapped into
  // memory, and every process mapping it shares the rate.
  explicit TokenBucketWrap(const Napi::CallbackInfo& info)
      : ObjectWrap<TokenBucketWrap>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsString()) {
      throw Napi::TypeError::New(env, "Expected name to be a string");
    }
    double rate = ReadRate(info, 1);
    double burst = ReadBurst(info, 2);
    if (info.Length() > 3 && !info[3].IsUndefined()) {
      if (!info[3].IsString()) {
        throw Napi::TypeError::New(env, "Expected sharedPath to be a string");
      }
      std::string error;
      bucket_ = TokenBucket::GetShared(info[3].As<Napi::String>().Utf8Value(), rate, burst, &error);
      if (!bucket_) throw Napi::Error::New(env, "Cannot share the rate limit: " + error);
      return;
    }
    bucket_ = TokenBucket::Get(info[0].As<Napi::String>().Utf8Value(), rate,
                               burst);
  }

 private:
  // tryAcquire(count = 1) -> boolean
  Napi::Value TryAcquire(const Napi::CallbackInfo& info) {
    uint32_t count = 1;
    if (info.Length() > 0 && !info[0].IsUndefined()) {
      count = static_cast<uint32_t>(
          ReadNumber(info, 0, "count", 1, "1", true));
    }
    return Napi::Boolean::New(info.Env(), bucket_->TryAcquire(count));
  }

  Napi::Value Configure(const Napi::CallbackInfo& info) {
    double rate = ReadRate(info, 0);
    bucket_->Configure(rate, ReadBurst(info, 1));
    return info.Env().Undefined();
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object stats = Napi::Object::New(env);
    stats.Set("granted", Napi::Number::New(env, static_cast<double>(bucket_->granted())));
    stats.Set("rejected", Napi::Number::New(env, static_cast<double>(bucket_->rejected())));
    stats.Set("requestsPerSecond", bucket_->requests_per_second());
    stats.Set("burst", bucket_->burst());
    return stats;
  }

  std::shared_ptr<TokenBucket> bucket_;
};

}  // namespace

void InitTokenBucketBinding(Napi::Env env, Napi::Object exports,
                            AddonData& data) {
  Napi::Function bucket_class = TokenBucketWrap::DefineClass(env);
  data.token_bucket_constructor = Napi::Persistent(bucket_class);
  exports.Set("TokenBucket", bucket_class);
}

}  // namespace hsm_kms
