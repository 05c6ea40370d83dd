#include "completion_queue.h"

#include <utility>

namespace hsm_kms {

std::shared_ptr<CompletionQueue> CompletionQueue::Create(
    Napi::Env env, SettleFunction settle) {
  std::shared_ptr<CompletionQueue> queue(new CompletionQueue());
  queue->env_ = env;
  queue->settle_ = settle;

  Napi::Object resource = Napi::Object::New(env);
  NAPI_THROW_IF_FAILED(env, napi_create_reference(env, resource, 1, &queue->resource_),
                       nullptr);
  NAPI_THROW_IF_FAILED(
      env,
      napi_async_init(env, resource, Napi::String::New(env, "hsm-kms completions"),
                      &queue->async_context_),
      nullptr);

  uv_loop_t* loop = nullptr;
  NAPI_THROW_IF_FAILED(env, napi_get_uv_event_loop(env, &loop), nullptr);
  queue->wakeup_ = new uv_async_t;
  queue->wakeup_->data = queue.get();
  if (uv_async_init(loop, queue->wakeup_, &CompletionQueue::OnWakeup) != 0) {
    delete queue->wakeup_;
    queue->wakeup_ = nullptr;
    throw Napi::Error::New(env, "uv_async_init failed for the completion queue");
  }
  // Idle until a job is in flight.
  uv_unref(reinterpret_cast<uv_handle_t*>(queue->wakeup_));
  return queue;
}

CompletionQueue::~CompletionQueue() {
  if (async_context_ != nullptr) napi_async_destroy(env_, async_context_);
}

void CompletionQueue::Post(std::vector<std::unique_ptr<Job>>* jobs) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (closed_) {
    jobs->clear();
    return;
  }
  bool was_empty = pending_.empty();
  for (std::unique_ptr<Job>& job : *jobs) pending_.push_back(std::move(job));
  jobs->clear();
  // While the JavaScript thread is in Drain() it looks at pending_ again
  // before it returns, so it needs no wake-up. Sent under the lock, so it
  // never races Close() or the end of Drain(). A send while one is already
  // pending costs an atomic compare-and-swap, not a system call.
  if (was_empty && !draining_) uv_async_send(wakeup_);
}

void CompletionQueue::OnWakeup(uv_async_t* handle) {
  static_cast<CompletionQueue*>(handle->data)->Drain();
}

void CompletionQueue::Drain() {
  // Jobs that complete while a batch is being settled are settled in the
  // same wake-up. The loop takes what arrived meanwhile until it finds
  // nothing, or until the time budget is spent, so that timers and I/O
  // still run.
  const uint64_t deadline = uv_hrtime() + kDrainBudgetNanoseconds;
  while (true) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (closed_) return;
      ready_.swap(pending_);
      draining_ = !ready_.empty();
      if (draining_ && uv_hrtime() >= deadline) {
        // Out of time: hand the jobs back and come back after the loop
        // has run its other callbacks.
        ready_.swap(pending_);
        draining_ = false;
        uv_async_send(wakeup_);
        return;
      }
    }
    if (ready_.empty()) return;
    if (!SettleBatch()) {
      // The environment refuses N-API calls, so it is shutting down and no
      // later wake-up could settle anything either: jobs that arrived
      // meanwhile are dropped now (their secrets wiped), not left behind.
      std::lock_guard<std::mutex> lock(mutex_);
      draining_ = false;
      pending_.clear();
      return;
    }
  }
}

bool CompletionQueue::SettleBatch() {
  in_flight_ -= std::min(in_flight_, ready_.size());
  if (in_flight_ == 0) uv_unref(reinterpret_cast<uv_handle_t*>(wakeup_));

  // Nothing may throw out of a libuv callback, and a dying environment (a
  // worker_thread being terminated) makes every N-API call fail, so each
  // step is checked and failures only drop the jobs.
  napi_handle_scope handle_scope = nullptr;
  if (napi_open_handle_scope(env_, &handle_scope) != napi_ok) {
    ready_.clear();
    return false;
  }
  // Promise reactions run when the callback scope closes, as after any
  // native callback into JavaScript. They usually queue new jobs, which
  // the executors start on while the next batch is settled.
  napi_callback_scope callback_scope = nullptr;
  napi_value resource = nullptr;
  bool scoped =
      napi_get_reference_value(env_, resource_, &resource) == napi_ok &&
      napi_open_callback_scope(env_, resource, async_context_,
                               &callback_scope) == napi_ok;
  Napi::Env env(env_);
  bool settled_all = true;
  for (std::unique_ptr<Job>& job : ready_) {
    napi_handle_scope job_scope = nullptr;
    if (napi_open_handle_scope(env_, &job_scope) != napi_ok) {
      settled_all = false;
      break;
    }
    settle_(env, *job);
    napi_close_handle_scope(env_, job_scope);
    // Wipes secrets now rather than at the end of the batch.
    ReturnJob(std::move(job));
  }
  ready_.clear();
  if (scoped) napi_close_callback_scope(env_, callback_scope);
  napi_close_handle_scope(env_, handle_scope);
  return settled_all && scoped;
}

std::unique_ptr<Job> CompletionQueue::TakeJob() {
  if (spare_jobs_.empty()) return std::make_unique<Job>();
  std::unique_ptr<Job> job = std::move(spare_jobs_.back());
  spare_jobs_.pop_back();
  return job;
}

void CompletionQueue::ReturnJob(std::unique_ptr<Job> job) {
  if (!job) return;
  job->Recycle();
  if (spare_jobs_.size() < kMaxSpareJobs &&
      job->RetainedCapacity() <= kMaxSpareJobBytes) {
    spare_jobs_.push_back(std::move(job));
  }
}

void CompletionQueue::JobStarted() {
  if (in_flight_++ == 0) uv_ref(reinterpret_cast<uv_handle_t*>(wakeup_));
}

void CompletionQueue::Close() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (closed_) return;
    closed_ = true;
    pending_.clear();
  }
  spare_jobs_.clear();
  if (resource_ != nullptr) {
    napi_delete_reference(env_, resource_);
    resource_ = nullptr;
  }
  // No close callback: when a worker_thread was the only environment that
  // loaded the addon, Node unloads the library before the loop finishes
  // closing the handle, and a callback in this library would then run from
  // unmapped memory. The handle (under 200 bytes, once per environment) is
  // left to the loop rather than freed.
  uv_close(reinterpret_cast<uv_handle_t*>(wakeup_), nullptr);
  wakeup_ = nullptr;
}

}  // namespace hsm_kms
