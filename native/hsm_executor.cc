#include "hsm_executor.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <utility>

#include "completion_queue.h"
#include "key_objects.h"
#include "token_crypto.h"

namespace hsm_kms {

// State shared by the executor handle and its threads. The threads hold a
// reference, so the state outlives a handle destroyed on one of them.
struct HsmExecutor::Core {
  Core(std::shared_ptr<Pkcs11Module> module, std::string token_label,
       SecureBuffer pin, const ExecutorOptions& executor_options)
      : pool(std::move(module), std::move(token_label), std::move(pin),
             executor_options.threads, executor_options.session_key_copies),
        options(executor_options) {}

  SessionPool pool;
  const ExecutorOptions options;

  std::mutex mutex;  // guards queue, stopping and last_error
  std::condition_variable wake;
  std::deque<std::unique_ptr<Job>> queue;
  bool stopping = false;
  // Jobs in the queue, readable without the mutex, so an idle thread can
  // poll for new work before it sleeps.
  std::atomic<size_t> queued{0};
  std::string last_error;

  std::atomic<uint64_t> completed{0};
  std::atomic<uint64_t> failed{0};
  std::atomic<uint64_t> rejected{0};
  std::atomic<uint64_t> busy_nanoseconds{0};
  std::atomic<uint64_t> reconnects{0};
};

namespace {

// Jobs a thread takes from the queue at once.
constexpr size_t kTakeAtOnce = 64;

// Completed jobs are handed back to JavaScript in groups, because each
// hand-over that finds the JavaScript thread asleep wakes it through an
// eventfd. On the development VM, perf put that at roughly 10 us of the
// executor thread per wake-up (an estimate), a few HSM operations' worth.
// A thread hands its results back once they are as many as the jobs it
// still has to run: the JavaScript thread then has that long to send more
// work before the HSM runs dry. It also hands them back at kPostAtMost
// results, when the oldest has waited kHoldAtMost (a slow HSM call, as on a
// network HSM, must not hold the results before it), and when it runs out
// of work.
constexpr size_t kPostAtMost = 128;
constexpr std::chrono::microseconds kHoldAtMost{1000};

using Core = HsmExecutor::Core;

bool ShouldPost(const Core& core, size_t done, size_t left_in_batch) {
  if (done >= kPostAtMost) return true;
  size_t left = left_in_batch + core.queued.load(std::memory_order_relaxed);
  return done >= left;
}

bool ResolveForCrypto(Core& core, CK_SESSION_HANDLE session,
                      const std::string& key_id, CK_OBJECT_HANDLE* key,
                      Failure* failure) {
  KeyHandles handles;
  if (!core.pool.ResolveKey(session, key_id, &handles, failure)) return false;
  *key = handles.for_crypto;
  return true;
}

bool Encrypt(Core& core, CK_SESSION_HANDLE session, const std::string& key_id,
             const std::vector<uint8_t>& aad, const SecureBuffer& plaintext,
             std::vector<uint8_t>* output, FailurePoint* point,
             Failure* failure) {
  CK_OBJECT_HANDLE key;
  if (!ResolveForCrypto(core, session, key_id, &key, failure)) return false;
  GcmInput input = {aad.data(), aad.size(), plaintext.data(), plaintext.size()};
  return GcmEncrypt(core.pool.functions(), session, key,
                    core.options.hsm_generates_iv, input, output, point,
                    failure);
}

bool Decrypt(Core& core, CK_SESSION_HANDLE session, Job& job,
             SecureBuffer* plaintext, FailurePoint* point, Failure* failure) {
  CK_OBJECT_HANDLE key;
  if (!ResolveForCrypto(core, session, job.key_id, &key, failure)) {
    return false;
  }
  GcmInput input = {job.aad.data(), job.aad.size(), job.ciphertext.data(),
                    job.ciphertext.size()};
  return GcmDecrypt(core.pool.functions(), session, key, job.iv.data(), input,
                    plaintext, point, failure);
}

bool ReEncrypt(Core& core, CK_SESSION_HANDLE session, Job& job,
               FailurePoint* point, Failure* failure) {
  if (!job.first_half_done) {
    // The plaintext stays in native memory (secret_input) and is wiped with
    // the job, so JavaScript never receives it.
    if (!Decrypt(core, session, job, &job.secret_input, point, failure)) {
      return false;
    }
    job.first_half_done = true;
    if (job.destination->core() != &core) return true;  // forwarded later
  }
  // On failure the plaintext stays for a retry on a fresh session; the job
  // wipes it when it is destroyed.
  if (!Encrypt(core, session, job.destination_key_id, job.destination_aad,
               job.secret_input, &job.output, point, failure)) {
    return false;
  }
  job.secret_input.Wipe();
  job.second_half_done = true;
  return true;
}

bool GenerateDataKey(Core& core, CK_SESSION_HANDLE session, Job& job,
                     FailurePoint* point, Failure* failure) {
  job.secret_output.Reset(job.size);
  if (!GenerateRandom(core.pool.functions(), session, job.secret_output.data(),
                      job.size, failure)) {
    return false;
  }
  bool encrypted = Encrypt(core, session, job.key_id, job.aad,
                           job.secret_output, &job.output, point, failure);
  if (!encrypted || !job.return_plaintext) job.secret_output.Wipe();
  return encrypted;
}

bool GenerateKey(Core& core, CK_SESSION_HANDLE session, Job& job,
                 bool is_retry, Failure* failure) {
  CK_FUNCTION_LIST* p11 = core.pool.functions();
  CK_OBJECT_HANDLE existing;
  if (!FindKeyById(p11, session, job.key_id, &existing, failure)) return false;
  if (existing != CK_INVALID_HANDLE) {
    // On a retry the first attempt may have created the key before its
    // session died; that key is the one the caller asked for.
    if (is_retry) return true;
    *failure = EngineFailure(FailureCategory::kInput,
                             "A key with this CKA_ID already exists in token "
                             "\"" + core.pool.token().label + "\"");
    return false;
  }
  CK_OBJECT_HANDLE key;
  return GenerateAesKey(p11, session, job.key_id, job.label, job.replicable,
                        &key, failure);
}

// Finds a token object that must exist, or fails with kNotFound naming it.
bool FindRequired(Core& core, CK_SESSION_HANDLE session, const std::string& id,
                  const char* what, CK_OBJECT_HANDLE* object,
                  Failure* failure) {
  if (!FindKeyById(core.pool.functions(), session, id, object, failure)) {
    return false;
  }
  if (*object == CK_INVALID_HANDLE) {
    *failure = EngineFailure(FailureCategory::kNotFound,
                             std::string("No ") + what + " with this CKA_ID is in token \"" +
                                 core.pool.token().label + "\"");
    return false;
  }
  return true;
}

// Copies a key to another HSM in two halves: here it is wrapped under the
// cluster wrapping key, and the destination unwraps it. Only the wrapped
// form crosses between the tokens, in native memory.
bool ReplicateKey(Core& core, CK_SESSION_HANDLE session, Job& job,
                  Failure* failure) {
  CK_FUNCTION_LIST* p11 = core.pool.functions();
  CK_OBJECT_HANDLE wrapping_key;
  if (!job.first_half_done) {
    CK_OBJECT_HANDLE key;
    if (!FindRequired(core, session, job.key_id, "AES key", &key, failure) ||
        !FindRequired(core, session, job.wrapping_key_id, "wrapping key",
                      &wrapping_key, failure) ||
        !WrapKey(p11, session, wrapping_key, key, &job.secret_input, failure)) {
      return false;
    }
    job.first_half_done = true;
    if (job.destination->core() != &core) return true;  // forwarded later
  }

  CK_OBJECT_HANDLE existing;
  if (!FindKeyById(p11, session, job.key_id, &existing, failure)) return false;
  job.found = existing == CK_INVALID_HANDLE;
  if (job.found) {
    CK_OBJECT_HANDLE copy;
    if (!FindRequired(core, session, job.wrapping_key_id, "wrapping key",
                      &wrapping_key, failure) ||
        !UnwrapKey(p11, session, wrapping_key, job.secret_input, job.key_id,
                   job.label, &copy, failure)) {
      return false;  // the wrapped key stays for a retry
    }
  }
  job.secret_input.Wipe();
  job.second_half_done = true;
  return true;
}

bool DestroyKey(Core& core, CK_SESSION_HANDLE session, Job& job,
                Failure* failure) {
  CK_FUNCTION_LIST* p11 = core.pool.functions();
  core.pool.ForgetKey(job.key_id);
  CK_OBJECT_HANDLE key;
  if (!FindKeyById(p11, session, job.key_id, &key, failure)) return false;
  job.found = key != CK_INVALID_HANDLE;
  return !job.found || DestroyObject(p11, session, key, failure);
}

bool FindTokenKey(Core& core, CK_SESSION_HANDLE session, Job& job,
                  CK_OBJECT_HANDLE* key, Failure* failure) {
  if (!FindKeyById(core.pool.functions(), session, job.key_id, key, failure)) {
    return false;
  }
  job.found = *key != CK_INVALID_HANDLE;
  return true;
}

bool Execute(Core& core, CK_SESSION_HANDLE session, Job& job, bool is_retry,
             FailurePoint* point, Failure* failure) {
  *point = FailurePoint::kBeforeOperation;
  auto serialized = core.pool.module().SerializeCall();
  switch (job.kind) {
    case JobKind::kEncrypt:
      return Encrypt(core, session, job.key_id, job.aad, job.secret_input,
                     &job.output, point, failure);
    case JobKind::kDecrypt:
      return Decrypt(core, session, job, &job.secret_output, point, failure);
    case JobKind::kReEncrypt:
      return ReEncrypt(core, session, job, point, failure);
    case JobKind::kGenerateDataKey:
      return GenerateDataKey(core, session, job, point, failure);
    case JobKind::kGenerateRandom:
      job.output.resize(job.size);
      return GenerateRandom(core.pool.functions(), session, job.output.data(),
                            job.size, failure);
    case JobKind::kGenerateKey:
      return GenerateKey(core, session, job, is_retry, failure);
    case JobKind::kReplicateKey:
      return ReplicateKey(core, session, job, failure);
    case JobKind::kDestroyKey:
      return DestroyKey(core, session, job, failure);
    case JobKind::kHasKey: {
      CK_OBJECT_HANDLE key;
      return FindTokenKey(core, session, job, &key, failure);
    }
    case JobKind::kKeyAttributes: {
      CK_OBJECT_HANDLE key;
      if (!FindTokenKey(core, session, job, &key, failure)) return false;
      if (!job.found) {
        *failure = EngineFailure(FailureCategory::kNotFound,
                                 "No AES key with this CKA_ID is in token \"" +
                                     core.pool.token().label + "\"");
        return false;
      }
      return ReadKeyAttributes(core.pool.functions(), session, key,
                               &job.attributes, failure);
    }
  }
  return false;
}

// Runs a job on this thread's session, recovering from a lost session or
// token and from a stale key handle by one retry on a fresh session.
void RunJob(Core& core, Job& job, CK_SESSION_HANDLE* session) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    Failure failure;
    if (*session == CK_INVALID_HANDLE &&
        !core.pool.Acquire(session, &failure)) {
      bool reconnected = failure.category == FailureCategory::kDevice &&
                         attempt == 0 &&
                         core.pool.Reconnect(core.pool.generation(), &failure);
      if (reconnected) {
        core.reconnects.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      job.failure = std::move(failure);
      return;
    }

    uint64_t generation = core.pool.generation();
    FailurePoint point = FailurePoint::kNone;
    if (Execute(core, *session, job, attempt > 0, &point, &failure)) {
      job.failure.reset();
      return;
    }

    bool retry = false;
    if (IsSessionLost(failure.rv)) {
      core.pool.Discard(*session);
      *session = CK_INVALID_HANDLE;
      retry = true;
    } else if (IsTokenLost(failure.rv)) {
      core.pool.Discard(*session);
      *session = CK_INVALID_HANDLE;
      Failure reconnect_failure;
      retry = core.pool.Reconnect(generation, &reconnect_failure);
      if (retry) core.reconnects.fetch_add(1, std::memory_order_relaxed);
    } else if (failure.category == FailureCategory::kKey &&
               !failure.function.empty()) {
      // A cached handle no longer names the key (destroyed elsewhere, or
      // its session copy vanished): search again.
      core.pool.ForgetKey(job.key_id);
      core.pool.ForgetKey(job.destination_key_id);
      retry = true;
    } else if (point == FailurePoint::kMidOperation) {
      // The operation may still be active in this session: replace it.
      core.pool.Discard(*session);
      *session = CK_INVALID_HANDLE;
    }
    job.failure = std::move(failure);
    if (!retry) return;
  }
}

void PostCompleted(std::vector<std::unique_ptr<Job>>* done) {
  size_t begin = 0;
  while (begin < done->size()) {
    CompletionQueue* target = (*done)[begin]->completions.get();
    size_t end = begin + 1;
    while (end < done->size() && (*done)[end]->completions.get() == target) {
      ++end;
    }
    std::vector<std::unique_ptr<Job>> group;
    group.reserve(end - begin);
    for (size_t i = begin; i < end; ++i) group.push_back(std::move((*done)[i]));
    // Keep the queue alive while posting; the jobs carry references too.
    std::shared_ptr<CompletionQueue> queue = group.front()->completions;
    queue->Post(&group);
    begin = end;
  }
  done->clear();
}

void RecordOutcome(Core& core, const Job& job) {
  if (!job.failure) {
    core.completed.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  core.failed.fetch_add(1, std::memory_order_relaxed);
  // Input and authentication failures are the caller's; the last error
  // describes the health of the HSM.
  FailureCategory category = job.failure->category;
  if (category != FailureCategory::kInput &&
      category != FailureCategory::kAuthentication &&
      category != FailureCategory::kNotFound) {
    std::lock_guard<std::mutex> lock(core.mutex);
    core.last_error = job.failure->message;
  }
}

// Hands a re-encryption whose decryption is done to the destination HSM.
void Forward(std::unique_ptr<Job>& job,
             std::vector<std::unique_ptr<Job>>* done) {
  std::shared_ptr<HsmExecutor> destination = job->destination;
  Failure failure;
  if (!destination->Submit(job, &failure)) {
    job->secret_input.Wipe();
    job->failure = std::move(failure);
    done->push_back(std::move(job));
  }
}

// Polls the queue for a short while before the thread sleeps. Waking a
// sleeping thread costs tens of microseconds on an idle virtual machine,
// more than an HSM call, so a request that arrives soon after the last one
// is picked up without that cost. The poll costs CPU only while idle.
void WaitBriefly(Core& core) {
  const uint64_t spin_ns = core.options.idle_spin_microseconds * 1000;
  if (spin_ns == 0 || core.queued.load(std::memory_order_relaxed) > 0) return;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::nanoseconds(spin_ns);
  while (core.queued.load(std::memory_order_relaxed) == 0 &&
         std::chrono::steady_clock::now() < deadline) {
    // Yielding lets the JavaScript thread, or another executor, run on this
    // core if it is runnable; on an idle core it returns at once.
    std::this_thread::yield();
  }
}

void WorkerLoop(std::shared_ptr<Core> core) {
  CK_SESSION_HANDLE session = CK_INVALID_HANDLE;
  std::vector<std::unique_ptr<Job>> batch;
  std::vector<std::unique_ptr<Job>> done;
  // When the oldest result in `done` was finished.
  std::chrono::steady_clock::time_point held_since;

  while (true) {
    {
      // Results still held are handed back before the thread waits for
      // work, or when they are due (see ShouldPost). A thread with
      // unposted results does not poll: it posts them at once if the queue
      // is empty.
      if (!done.empty() && ShouldPost(*core, done.size(), 0)) PostCompleted(&done);
      if (done.empty()) WaitBriefly(*core);
      std::unique_lock<std::mutex> lock(core->mutex);
      if (core->queue.empty() && !done.empty()) {
        lock.unlock();
        PostCompleted(&done);
        continue;
      }
      core->wake.wait(lock, [&] { return core->stopping || !core->queue.empty(); });
      if (core->queue.empty()) break;  // stopping, and drained
      size_t take = std::min(kTakeAtOnce, core->queue.size());
      for (size_t i = 0; i < take; ++i) {
        batch.push_back(std::move(core->queue.front()));
        core->queue.pop_front();
      }
      core->queued.store(core->queue.size(), std::memory_order_relaxed);
    }

    auto started = std::chrono::steady_clock::now();
    auto job_started = started;
    for (size_t index = 0; index < batch.size(); ++index) {
      std::unique_ptr<Job>& job = batch[index];
      RunJob(*core, *job, &session);
      auto job_finished = std::chrono::steady_clock::now();
      bool slow_call = job_finished - job_started >= kHoldAtMost;
      job_started = job_finished;
      bool two_halves = job->kind == JobKind::kReEncrypt ||
                        job->kind == JobKind::kReplicateKey;
      bool forward = two_halves && !job->failure && job->first_half_done &&
                     job->destination->core() != core.get() && !job->second_half_done;
      if (forward) {
        Forward(job, &done);
        continue;
      }
      RecordOutcome(*core, *job);
      if (done.empty()) held_since = job_finished;
      done.push_back(std::move(job));
      bool held_long = job_finished - held_since >= kHoldAtMost;
      if (slow_call || held_long || ShouldPost(*core, done.size(), batch.size() - index - 1)) {
        PostCompleted(&done);
      }
    }
    batch.clear();
    // job_started is the time the batch's last job finished.
    auto elapsed = job_started - started;
    core->busy_nanoseconds.fetch_add(
        static_cast<uint64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed)
                .count()),
        std::memory_order_relaxed);
  }

  if (session != CK_INVALID_HANDLE) core->pool.Discard(session);
}

std::mutex& RegistryMutex() {
  static std::mutex mutex;
  return mutex;
}

// Executors by module path and token label. A token may have several
// executors with different options, and they share the token's login.
std::multimap<std::string, std::weak_ptr<HsmExecutor>>& Registry() {
  static std::multimap<std::string, std::weak_ptr<HsmExecutor>> registry;
  return registry;
}

bool SameOptions(const ExecutorOptions& a, const ExecutorOptions& b) {
  return a.threads == b.threads && a.max_queue == b.max_queue &&
         a.idle_spin_microseconds == b.idle_spin_microseconds &&
         a.session_key_copies == b.session_key_copies &&
         a.hsm_generates_iv == b.hsm_generates_iv;
}

}  // namespace

std::shared_ptr<HsmExecutor> HsmExecutor::Open(const std::string& module_path,
                                               const std::string& token_label,
                                               SecureBuffer pin,
                                               const ExecutorOptions& options,
                                               Failure* failure) {
  std::lock_guard<std::mutex> lock(RegistryMutex());
  const std::string key = module_path + '\n' + token_label;

  // Once a process is logged in to a token, C_Login accepts any PIN with
  // CKR_USER_ALREADY_LOGGED_IN, so the PIN is checked here instead.
  std::shared_ptr<HsmExecutor> reusable;
  auto [begin, end] = Registry().equal_range(key);
  for (auto entry = begin; entry != end;) {
    std::shared_ptr<HsmExecutor> existing = entry->second.lock();
    if (!existing) {
      entry = Registry().erase(entry);
      continue;
    }
    if (!existing->core_->pool.PinEquals(pin)) {
      *failure = Pkcs11Failure("C_Login", CKR_PIN_INCORRECT);
      failure->message = "C_Login failed with CKR_PIN_INCORRECT: the PIN "
                         "differs from the one this process logged in to "
                         "token \"" + token_label + "\" with";
      return nullptr;
    }
    if (SameOptions(existing->core_->options, options)) reusable = existing;
    ++entry;
  }
  if (reusable) return reusable;

  std::shared_ptr<Pkcs11Module> module =
      Pkcs11Module::Acquire(module_path, failure);
  if (!module) return nullptr;
  auto core = std::make_shared<Core>(std::move(module), token_label,
                                     std::move(pin), options);
  if (!core->pool.Connect(failure)) return nullptr;

  std::shared_ptr<HsmExecutor> executor(new HsmExecutor(core));
  for (size_t i = 0; i < options.threads; ++i) {
    executor->threads_.emplace_back(WorkerLoop, core);
  }
  Registry().emplace(key, executor);
  return executor;
}

HsmExecutor::HsmExecutor(std::shared_ptr<Core> core) : core_(std::move(core)) {}

HsmExecutor::~HsmExecutor() {
  // Queued jobs still run; the threads exit once the queue is empty.
  StopThreads(false);
}

void HsmExecutor::StopThreads(bool drop_queued) {
  std::deque<std::unique_ptr<Job>> dropped;
  {
    std::lock_guard<std::mutex> lock(core_->mutex);
    core_->stopping = true;
    if (drop_queued) dropped.swap(core_->queue);
    core_->queued.store(core_->queue.size(), std::memory_order_relaxed);
  }
  core_->wake.notify_all();
  // A thread can drop the last reference itself (a job it completed held
  // it), and must not join itself: it holds the core and exits on its own.
  for (std::thread& thread : threads_) {
    if (thread.get_id() == std::this_thread::get_id()) {
      thread.detach();
    } else if (thread.joinable()) {
      thread.join();
    }
  }
  threads_.clear();
}

void HsmExecutor::StopAll() {
  std::vector<std::shared_ptr<HsmExecutor>> executors;
  {
    std::lock_guard<std::mutex> lock(RegistryMutex());
    for (auto& entry : Registry()) {
      if (auto executor = entry.second.lock()) executors.push_back(executor);
    }
  }
  for (auto& executor : executors) executor->StopThreads(true);
}

bool HsmExecutor::Submit(std::unique_ptr<Job>& job, Failure* failure) {
  {
    std::lock_guard<std::mutex> lock(core_->mutex);
    if (core_->stopping) {
      *failure = EngineFailure(FailureCategory::kClosed,
                               "The HSM \"" + core_->pool.token().label +
                                   "\" is closing");
      return false;
    }
    if (core_->queue.size() >= core_->options.max_queue) {
      core_->rejected.fetch_add(1, std::memory_order_relaxed);
      *failure = EngineFailure(FailureCategory::kBusy,
                               "The request queue of HSM \"" +
                                   core_->pool.token().label + "\" is full");
      return false;
    }
    core_->queue.push_back(std::move(job));
    core_->queued.store(core_->queue.size(), std::memory_order_relaxed);
  }
  core_->wake.notify_one();
  return true;
}

ExecutorStats HsmExecutor::Stats() const {
  ExecutorStats stats;
  stats.completed = core_->completed.load(std::memory_order_relaxed);
  stats.failed = core_->failed.load(std::memory_order_relaxed);
  stats.rejected = core_->rejected.load(std::memory_order_relaxed);
  stats.busy_nanoseconds = core_->busy_nanoseconds.load(std::memory_order_relaxed);
  stats.reconnects = core_->reconnects.load(std::memory_order_relaxed);
  stats.sessions = core_->pool.open_sessions();
  stats.threads = threads_.size();
  std::lock_guard<std::mutex> lock(core_->mutex);
  stats.queued = core_->queue.size();
  stats.last_error = core_->last_error;
  return stats;
}

const TokenDescription& HsmExecutor::token() const {
  return core_->pool.token();
}

}  // namespace hsm_kms
