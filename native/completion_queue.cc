#include "completion_queue.h"

#include <utility>

namespace hsm_kms {

std::shared_ptr<CompletionQueue> CompletionQueue::Create(
    Napi::Env env, SettleFunction settle) {
  std::shared_ptr<CompletionQueue> queue(new CompletionQueue());
  queue->settle_ = settle;
  queue->self_ = queue;
  queue->wakeup_ = Wakeup::New(
      env, "hsm-kms completions", 0, 1, queue.get(),
      [](Napi::Env, void*, CompletionQueue* finalized) {
        finalized->self_.reset();
      });
  // Idle until a job is in flight.
  queue->wakeup_.Unref(env);
  return queue;
}

void CompletionQueue::Post(std::vector<std::unique_ptr<Job>>* jobs) {
  bool request_wakeup = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (closed_) {
      jobs->clear();
      return;
    }
    for (std::unique_ptr<Job>& job : *jobs) pending_.push_back(std::move(job));
    jobs->clear();
    if (!wakeup_requested_) {
      wakeup_requested_ = true;
      request_wakeup = true;
    }
  }
  if (request_wakeup && wakeup_.NonBlockingCall() != napi_ok) {
    // The environment is shutting down; its promises can no longer settle.
    std::lock_guard<std::mutex> lock(mutex_);
    closed_ = true;
    pending_.clear();
  }
}

void CompletionQueue::Dispatch(Napi::Env env, Napi::Function,
                               CompletionQueue* queue, std::nullptr_t*) {
  if (env == nullptr) return;  // finalizing: nothing can be settled
  queue->Drain(env);
}

void CompletionQueue::Drain(Napi::Env env) {
  std::vector<std::unique_ptr<Job>> ready;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ready.swap(pending_);
    wakeup_requested_ = false;
  }
  for (std::unique_ptr<Job>& job : ready) {
    Napi::HandleScope scope(env);
    settle_(env, *job);
    job.reset();  // wipes secrets now rather than at the end of the batch
  }
  in_flight_ -= std::min(in_flight_, ready.size());
  if (in_flight_ == 0) wakeup_.Unref(env);
}

void CompletionQueue::JobStarted(Napi::Env env) {
  if (in_flight_++ == 0) wakeup_.Ref(env);
}

void CompletionQueue::Close() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (aborted_) return;
    aborted_ = true;
    closed_ = true;
    pending_.clear();
  }
  wakeup_.Abort();
}

}  // namespace hsm_kms
