// Runs native work off the JS thread and settles a Promise with the result. The typed arrays the work
// reads and writes are pinned with references for its whole duration, so JS garbage collection cannot
// free them underneath the worker. A spogw::Error (or any std::exception) thrown by `work` rejects the
// promise with its message.
#pragma once
#include <napi.h>

#include <functional>
#include <mutex>
#include <vector>

namespace spogw::napi {

class PromiseWorker : public Napi::AsyncWorker {
 public:
  using Work = std::function<void()>;
  // Builds the resolved value on the JS thread. It receives the pinned values (in `keep` order) because
  // handles captured when the work was queued are no longer valid when it completes.
  using Result = std::function<Napi::Value(Napi::Env, const std::vector<Napi::Value>& pinned)>;

  // `keep` lists the JS values to pin until the promise settles.
  static Napi::Promise Start(Napi::Env env, std::vector<Napi::Value> keep, Work work, Result result) {
    auto* worker = new PromiseWorker(env, std::move(keep), std::move(work), std::move(result));
    Napi::Promise promise = worker->deferred_.Promise();
    worker->Queue();
    return promise;
  }

 protected:
  void Execute() override {
    // One native computation at a time: each already uses every core (BLAS threads, parallel_for),
    // so overlapping them only adds contention, and concurrent calls into OpenBLAS are not a
    // guarantee we want to depend on.
    static std::mutex compute_mutex;
    std::lock_guard<std::mutex> lock(compute_mutex);
    try {
      work_();
    } catch (const std::exception& e) {
      SetError(e.what());
    } catch (...) {
      SetError("unknown native error");
    }
  }
  void OnOK() override {
    std::vector<Napi::Value> pinned;
    for (auto& ref : pinned_) pinned.push_back(ref.Value());
    deferred_.Resolve(result_(Env(), pinned));
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  PromiseWorker(Napi::Env env, std::vector<Napi::Value> keep, Work work, Result result)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)),
        work_(std::move(work)), result_(std::move(result)) {
    for (auto& v : keep) pinned_.push_back(Napi::Persistent(v));
  }

  Napi::Promise::Deferred deferred_;
  Work work_;
  Result result_;
  std::vector<Napi::Reference<Napi::Value>> pinned_;
};

}  // namespace spogw::napi
