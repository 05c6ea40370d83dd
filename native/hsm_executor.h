// The execution model: every HSM (token) is served by its own threads, each
// owning one logged-in session, fed from one queue.
//
// SoftHSM2 2.6 serialises crypto on a process-wide lock, so two threads on a
// token, or on two tokens, run slower than one. That is why a single thread
// per token is the default. Network HSMs spend most of a call waiting, and gain from more
// threads (sessions) per token. The libuv pool is not used: its threads are
// shared with fs, dns and zlib, and an async work item per request costs more
// than the HSM call itself. Completed jobs return to JavaScript in batches
// (see completion_queue.h).
#ifndef HSM_KMS_HSM_EXECUTOR_H_
#define HSM_KMS_HSM_EXECUTOR_H_

#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "errors.h"
#include "hsm_job.h"
#include "session_pool.h"

namespace hsm_kms {

struct ExecutorOptions {
  size_t threads = 1;  // one session per thread
  size_t max_queue = 65536;
  bool session_key_copies = true;
  bool hsm_generates_iv = false;
  // How long an idle thread polls for work before it sleeps. On a 2-vCPU VM
  // with SoftHSM2, 100 us raised the rate of one request in flight about
  // fourfold in ad-hoc runs; `npm run bench` (1 and 16 in flight) measures it.
  uint32_t idle_spin_microseconds = 100;
};

struct ExecutorStats {
  uint64_t completed = 0;
  uint64_t failed = 0;
  uint64_t rejected = 0;  // refused because the queue was full
  uint64_t busy_nanoseconds = 0;
  uint64_t reconnects = 0;
  size_t queued = 0;
  size_t sessions = 0;
  size_t threads = 0;
  std::string last_error;
};

class HsmExecutor {
 public:
  // Returns an executor for the token `token_label` in the module at
  // `module_path`. Openers in the same process with the same options share
  // one executor; every opener must present the PIN the process logged in
  // with.
  static std::shared_ptr<HsmExecutor> Open(const std::string& module_path,
                                           const std::string& token_label,
                                           SecureBuffer pin,
                                           const ExecutorOptions& options,
                                           Failure* failure);
  ~HsmExecutor();

  HsmExecutor(const HsmExecutor&) = delete;
  HsmExecutor& operator=(const HsmExecutor&) = delete;

  // Queues `job`. On failure (queue full, or executor stopping) the job is
  // left with the caller and `failure` describes why.
  bool Submit(std::unique_ptr<Job>& job, Failure* failure);

  ExecutorStats Stats() const;

  // Stops every executor of the process: queued jobs are dropped (their
  // secrets wiped, their promises never settled) and each thread finishes
  // its current PKCS#11 call and exits. Called when the process exits, so
  // that no thread is inside a module while the module's static
  // destructors run.
  static void StopAll();
  const TokenDescription& token() const;

  struct Core;
  Core* core() const { return core_.get(); }

 private:
  explicit HsmExecutor(std::shared_ptr<Core> core);
  void StopThreads(bool drop_queued);

  std::shared_ptr<Core> core_;
  std::vector<std::thread> threads_;
};

}  // namespace hsm_kms

#endif  // HSM_KMS_HSM_EXECUTOR_H_
