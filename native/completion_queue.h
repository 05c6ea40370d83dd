// Hands finished jobs from executor threads back to one JavaScript
// environment. Threads append to a shared list and wake the JavaScript thread
// only when the list was empty, so one wake-up settles a whole batch of
// promises.
#ifndef HSM_KMS_COMPLETION_QUEUE_H_
#define HSM_KMS_COMPLETION_QUEUE_H_

#include <napi.h>

#include <memory>
#include <mutex>
#include <vector>

#include "hsm_job.h"

namespace hsm_kms {

class CompletionQueue {
 public:
  // Settles the promise of one job on the JavaScript thread.
  using SettleFunction = void (*)(Napi::Env env, Job& job);

  static std::shared_ptr<CompletionQueue> Create(Napi::Env env,
                                                 SettleFunction settle);

  // Any thread. Takes the jobs; they are destroyed unsettled (and their
  // secrets wiped) when the environment is shutting down.
  void Post(std::vector<std::unique_ptr<Job>>* jobs);

  // JavaScript thread. While any job is in flight the queue keeps the event
  // loop alive, so a process does not exit with promises pending.
  void JobStarted(Napi::Env env);

  // JavaScript thread, at environment teardown.
  void Close();

 private:
  CompletionQueue() = default;
  static void Dispatch(Napi::Env env, Napi::Function unused,
                       CompletionQueue* queue, std::nullptr_t* unused_data);
  void Drain(Napi::Env env);

  using Wakeup = Napi::TypedThreadSafeFunction<CompletionQueue, std::nullptr_t,
                                               &CompletionQueue::Dispatch>;
  Wakeup wakeup_;
  SettleFunction settle_ = nullptr;
  // Keeps this object alive until the thread-safe function is finalized,
  // because a dispatch may still be queued when the last owner lets go.
  std::shared_ptr<CompletionQueue> self_;

  std::mutex mutex_;  // guards pending_ and the flags below it
  std::vector<std::unique_ptr<Job>> pending_;
  bool wakeup_requested_ = false;
  bool closed_ = false;
  bool aborted_ = false;

  size_t in_flight_ = 0;  // JavaScript thread only
};

}  // namespace hsm_kms

#endif  // HSM_KMS_COMPLETION_QUEUE_H_
