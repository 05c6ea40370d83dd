// Hands finished jobs from executor threads back to one JavaScript
// environment. Threads append to a shared list and wake the JavaScript thread
// through a libuv async handle. uv_async_send coalesces wake-ups that arrive
// before the loop runs, so one wake-up settles a whole batch of promises.
#ifndef HSM_KMS_COMPLETION_QUEUE_H_
#define HSM_KMS_COMPLETION_QUEUE_H_

#include <napi.h>
#include <uv.h>

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
  ~CompletionQueue();

  CompletionQueue(const CompletionQueue&) = delete;
  CompletionQueue& operator=(const CompletionQueue&) = delete;

  // Any thread. Takes the jobs; they are destroyed unsettled (and their
  // secrets wiped) once the environment is shutting down.
  void Post(std::vector<std::unique_ptr<Job>>* jobs);

  // JavaScript thread. While any job is in flight the queue keeps the event
  // loop alive, so a process does not exit with promises pending.
  void JobStarted();

  // JavaScript thread. Returns a job to fill in, reused when one is spare.
  // A new job costs several allocations, and malloc and free took about a
  // fifth of the JavaScript thread's time in perf before jobs were reused.
  std::unique_ptr<Job> TakeJob();
  // JavaScript thread. Takes back a settled or rejected job: it is wiped and
  // kept for reuse, or destroyed when it is large or enough are spare.
  void ReturnJob(std::unique_ptr<Job> job);

  // JavaScript thread, at environment teardown. Also destroys the spare
  // jobs, whose references to this queue would otherwise keep it alive.
  void Close();

 private:
  CompletionQueue() = default;
  static void OnWakeup(uv_async_t* handle);
  void Drain();
  // Settles the jobs in ready_ and runs the promise reactions. Returns false
  // when the environment refuses N-API calls.
  bool SettleBatch();

  // Maximum time one Drain() spends settling batches that keep arriving.
  static constexpr uint64_t kDrainBudgetNanoseconds = 1000000;

  napi_env env_ = nullptr;
  SettleFunction settle_ = nullptr;
  // Owned by libuv once closed: uv_close frees it in its close callback.
  uv_async_t* wakeup_ = nullptr;
  // Resource and async context of the callback scope in which promises are
  // settled, so that their reactions run when the scope closes.
  napi_ref resource_ = nullptr;
  napi_async_context async_context_ = nullptr;

  std::mutex mutex_;  // guards pending_, draining_ and closed_
  std::vector<std::unique_ptr<Job>> pending_;
  // True while Drain() is settling a batch and will look at pending_ again.
  bool draining_ = false;
  bool closed_ = false;

  // The batch being settled, JavaScript thread only. A member, so its
  // allocation is reused from one wake-up to the next.
  std::vector<std::unique_ptr<Job>> ready_;

  size_t in_flight_ = 0;  // JavaScript thread only

  // Spare jobs, JavaScript thread only. The limits keep the pool to a few
  // MiB: a job whose buffers once held a large request is not kept.
  static constexpr size_t kMaxSpareJobs = 1024;
  static constexpr size_t kMaxSpareJobBytes = 4096;
  std::vector<std::unique_ptr<Job>> spare_jobs_;
};

}  // namespace hsm_kms

#endif  // HSM_KMS_COMPLETION_QUEUE_H_
