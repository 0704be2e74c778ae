// A small persistent thread pool. parallel_for hands each worker one contiguous chunk; the calling
// thread runs chunk 0 itself, so threads() == 1 runs inline with no synchronisation at all.
#include "spogw/threads.h"

#include <algorithm>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#ifdef SPOGW_HAVE_OPENBLAS
#include <cblas.h>
#endif

namespace spogw {

namespace {

class Pool {
 public:
  ~Pool() { resize(0); }

  int size() const { return int(workers_.size()) + 1; }

  void resize(int total) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      stop_ = true;
      generation_++;
    }
    cv_start_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
    stop_ = false;
    for (int i = 1; i < total; i++) workers_.emplace_back([this, i] { loop(i); });
  }

  void run(int64_t n, const std::function<void(int64_t, int64_t)>& fn) {
    const int parts = int(std::min<int64_t>(size(), n));
    if (parts <= 1) {
      if (n > 0) fn(0, n);
      return;
    }
    std::unique_lock<std::mutex> call_lock(call_mu_);  // one parallel_for at a time
    {
      std::unique_lock<std::mutex> lock(mu_);
      fn_ = &fn;
      n_ = n;
      parts_ = parts;
      pending_ = parts - 1;
      error_ = nullptr;
      generation_++;
    }
    cv_start_.notify_all();
    std::exception_ptr own_error;
    try {
      fn(0, chunk_end(0, n, parts));
    } catch (...) {
      own_error = std::current_exception();
    }
    std::unique_lock<std::mutex> lock(mu_);
    cv_done_.wait(lock, [this] { return pending_ == 0; });
    fn_ = nullptr;
    if (own_error) std::rethrow_exception(own_error);
    if (error_) std::rethrow_exception(error_);
  }

 private:
  static int64_t chunk_end(int part, int64_t n, int parts) { return n * (part + 1) / parts; }

  void loop(int index) {
    uint64_t seen = 0;
    for (;;) {
      const std::function<void(int64_t, int64_t)>* fn;
      int64_t n;
      int parts;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_start_.wait(lock, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
        fn = fn_;
        n = n_;
        parts = parts_;
      }
      if (fn == nullptr || index >= parts) continue;
      std::exception_ptr err;
      try {
        (*fn)(n * index / parts, chunk_end(index, n, parts));
      } catch (...) {
        err = std::current_exception();
      }
      std::unique_lock<std::mutex> lock(mu_);
      if (err && !error_) error_ = err;
      if (--pending_ == 0) cv_done_.notify_one();
    }
  }

  std::vector<std::thread> workers_;
  std::mutex mu_, call_mu_;
  std::condition_variable cv_start_, cv_done_;
  const std::function<void(int64_t, int64_t)>* fn_ = nullptr;
  int64_t n_ = 0;
  int parts_ = 0, pending_ = 0;
  uint64_t generation_ = 0;
  bool stop_ = false;
  std::exception_ptr error_;
};

Pool& pool() {
  static Pool* p = new Pool();  // leaked on purpose: joining threads during static destruction at
  return *p;                    // process exit can deadlock inside a Node addon
}

int g_threads = 0;
std::mutex g_threads_mu;

}  // namespace

int hardware_threads() {
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : int(hw);
}

void set_threads(int n) {
  std::lock_guard<std::mutex> lock(g_threads_mu);
  n = std::clamp(n, 1, hardware_threads());
  if (n == g_threads) return;
  g_threads = n;
  pool().resize(n);
#ifdef SPOGW_HAVE_OPENBLAS
  openblas_set_num_threads(n);
#endif
}

int threads() {
  {
    std::lock_guard<std::mutex> lock(g_threads_mu);
    if (g_threads > 0) return g_threads;
  }
  set_threads(hardware_threads());
  return g_threads;
}

void parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn) {
  threads();  // make sure the pool exists
  pool().run(n, fn);
}

}  // namespace spogw
