// The training engine as a JS class. loadEngine(path) -> Promise<NativeEngine>. Long work (load,
// forward, backward, optimizer step) runs off the JS thread and holds the engine's lock; quick
// accessors refuse with "engine is busy" instead of blocking the JS thread while that work runs.
// The worker holds a shared_ptr, so dispose() during a running call frees the engine afterwards.
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "async.h"
#include "convert.h"
#include "register.h"
#include "settings.h"
#include "spogw/engine/device_engine.h"
#include "spogw/engine/engine.h"
#include "spogw/engine/gguf_reader.h"
#include "spogw/error.h"

namespace spogw::napi {

namespace {

class NativeEngine : public Napi::ObjectWrap<NativeEngine> {
 public:
  static Napi::FunctionReference* constructor;

  static void Init(Napi::Env env, Napi::Object exports) {
    Napi::Function cls = DefineClass(env, "NativeEngine", {
      InstanceMethod("config", &NativeEngine::Config),
      InstanceMethod("weightInfo", &NativeEngine::WeightInfo),
      InstanceMethod("logits", &NativeEngine::Logits),
      InstanceMethod("tokenLogprobs", &NativeEngine::TokenLogprobs),
      InstanceMethod("tokenLogprobsBatch", &NativeEngine::TokenLogprobsBatch),
      InstanceMethod("initLora", &NativeEngine::InitLora),
      InstanceMethod("clearLora", &NativeEngine::ClearLora),
      InstanceMethod("loraInfo", &NativeEngine::LoraInfo),
      InstanceMethod("getLoraTensor", &NativeEngine::GetLoraTensor),
      InstanceMethod("setLoraTensor", &NativeEngine::SetLoraTensor),
      InstanceMethod("setOptimizerStep", &NativeEngine::SetOptimizerStep),
      InstanceMethod("backward", &NativeEngine::Backward),
      InstanceMethod("optimizerStep", &NativeEngine::OptimizerStep),
      InstanceMethod("zeroGrad", &NativeEngine::ZeroGrad),
      InstanceMethod("deviceInfo", &NativeEngine::DeviceInfo),
      InstanceMethod("dispose", &NativeEngine::Dispose),
    });
    constructor = new Napi::FunctionReference(Napi::Persistent(cls));  // lives as long as the process
    exports.Set("NativeEngine", cls);
    exports.Set("loadEngine", Napi::Function::New(env, Load, "loadEngine"));
  }

  explicit NativeEngine(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeEngine>(info) {
    if (info.Length() != 1 || !info[0].IsExternal())
      throw Napi::TypeError::New(info.Env(), "NativeEngine cannot be constructed directly: use loadEngine(path)");
    engine_ = *info[0].As<Napi::External<std::shared_ptr<Engine>>>().Data();
  }

 private:
  std::shared_ptr<Engine> engine_;

  // loadEngine(path, { device: "cpu" | "cuda", precision: "bf16" | "f32" })
  static Napi::Value Load(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "loadEngine(path, options): path must be a string");
    const std::string path = info[0].As<Napi::String>().Utf8Value();
    Napi::Object options = object_arg(info, 1, "loadEngine", "options");
    const std::string device = string_field(options, "loadEngine", "device"), precision = string_field(options, "loadEngine", "precision");
    if (device != "cpu" && device != "cuda") throw Napi::RangeError::New(env, "loadEngine: device must be \"cpu\" or \"cuda\", got \"" + device + "\"");
    if (precision != "bf16" && precision != "f32") throw Napi::RangeError::New(env, "loadEngine: precision must be \"bf16\" or \"f32\", got \"" + precision + "\"");
    const DeviceEngineOptions device_options{precision == "f32" ? DevicePrecision::kF32 : DevicePrecision::kBF16};
    auto slot = std::make_shared<std::shared_ptr<Engine>>();
    return PromiseWorker::Start(
        env, {}, [path, device, device_options, slot] {
          auto engine = std::shared_ptr<Engine>(load_engine(path));
          if (device == "cuda") {
#ifdef SPOGW_WITH_CUDA
            engine->attach_device(make_cuda_engine(*engine, device_options));
#else
            (void)device_options;
            throw Error("device \"cuda\": this spogw-native binary is the CPU variant (no CUDA code); the cuda prebuild is installed where "
                        "an NVIDIA driver is found (npx spogw-native info says which binary loaded and why), or use device \"cpu\"");
#endif
          }
          *slot = std::move(engine);
        },
        [slot](Napi::Env env, const std::vector<Napi::Value>&) -> Napi::Value {
          auto* holder = new std::shared_ptr<Engine>(*slot);
          auto ext = Napi::External<std::shared_ptr<Engine>>::New(env, holder, [](Napi::Env, std::shared_ptr<Engine>* p) { delete p; });
          return constructor->New({ext});
        });
  }

  // After the host copy of the adapter changed: the device's copy follows.
  static void lora_changed(Engine& e) {
    if (DeviceEngine* d = e.device()) d->lora_replaced();
  }

  std::shared_ptr<Engine> live(Napi::Env env) const {
    if (!engine_) throw Napi::Error::New(env, "this engine has been disposed");
    return engine_;
  }

  // For quick synchronous accessors: never wait on a long-running call.
  template <typename Fn>
  auto quick(Napi::Env env, Fn fn) {
    auto e = live(env);
    std::unique_lock<std::mutex> lock(e->mutex(), std::try_to_lock);
    if (!lock.owns_lock()) throw Napi::Error::New(env, "engine is busy: await the previous call before this one");
    try {
      if (DeviceEngine* d = e->device()) d->lora_to_host();  // the accessors read and write the host copy
      return fn(*e);
    } catch (const Error& err) {
      throw Napi::Error::New(env, err.what());
    }
  }

  // deviceInfo() -> { device: "cpu" } or the CUDA engine's device, products, precision and memory.
  Napi::Value DeviceInfo(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return quick(env, [&](Engine& e) {
      Napi::Object o = Napi::Object::New(env);
      DeviceEngine* d = e.device();
      o.Set("device", d ? "cuda" : "cpu");
      if (!d) return o;
      const DeviceEngineStatus s = d->status();
      o.Set("name", s.device);
      o.Set("products", s.products);
      o.Set("precision", s.precision);
      o.Set("weightBytes", double(s.weight_bytes));
      o.Set("allocatedBytes", double(s.allocated_bytes));
      o.Set("peakBytes", double(s.peak_bytes));
      o.Set("freeBytes", double(s.free_bytes));
      o.Set("totalBytes", double(s.total_bytes));
      return o;
    });
  }

  Napi::Value Config(const Napi::CallbackInfo& info) {
    const ModelConfig c = live(info.Env())->config();
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("arch", c.arch);
    o.Set("vocabSize", double(c.vocab));
    o.Set("hiddenSize", double(c.d));
    o.Set("layers", double(c.layers));
    o.Set("heads", double(c.heads));
    o.Set("kvHeads", double(c.kv_heads));
    o.Set("headDim", double(c.head_dim));
    o.Set("ffSize", double(c.ff));
    o.Set("contextLength", double(c.context));
    o.Set("ropeTheta", c.rope_theta);
    o.Set("rmsEps", c.rms_eps);
    o.Set("tiedEmbeddings", c.tied);
    return o;
  }

  Napi::Value WeightInfo(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const std::vector<spogw::WeightInfo> weights = quick(env, [](Engine& e) { return e.weight_infos(); });
    Napi::Array out = Napi::Array::New(env, weights.size());
    for (size_t i = 0; i < weights.size(); i++) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("name", weights[i].name);
      o.Set("type", ggml_type_name(weights[i].type));
      o.Set("kernel", weights[i].kernel);
      o.Set("bytes", double(weights[i].bytes));
      out.Set(uint32_t(i), o);
    }
    return out;
  }

  Napi::Value Logits(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto e = live(env);
    Napi::Int32Array tokens = int32_arg(info, 0, "tokens");
    const int64_t T = int64_t(tokens.ElementLength());
    if (T == 0) throw Napi::RangeError::New(env, "logits: tokens is empty");
    const int64_t n = checked_mul(T, e->config().vocab, "logits");
    if (n > (int64_t(1) << 31)) throw Napi::RangeError::New(env, "logits: [T, V] = " + std::to_string(n) + " floats is too large; use tokenLogprobs");
    Napi::Float32Array out = Napi::Float32Array::New(env, size_t(n));
    const int32_t* tp = tokens.Data();
    float* op = out.Data();
    return PromiseWorker::Start(env, {tokens, out}, [e, tp, T, op] {
      std::lock_guard<std::mutex> lock(e->mutex());
      if (DeviceEngine* d = e->device()) d->logits(tp, T, op);
      else e->logits(tp, T, op);
    }, [](Napi::Env, const std::vector<Napi::Value>& p) { return p[1]; });
  }

  Napi::Value TokenLogprobs(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto e = live(env);
    Napi::Int32Array tokens = int32_arg(info, 0, "tokens");
    const int64_t T = int64_t(tokens.ElementLength());
    const int64_t from = int_arg(info, 1, "from", 1, std::max<int64_t>(1, T - 1));
    if (T < 2) throw Napi::RangeError::New(env, "tokenLogprobs: needs at least 2 tokens");
    // Required, like the loss settings' temperature it must equal; its range is the core's check.
    const float temp = float(as_number(env, arg(info, 2), "tokenLogprobs: temperature"));
    Napi::Float32Array out = Napi::Float32Array::New(env, size_t(T - from));
    const int32_t* tp = tokens.Data();
    float* op = out.Data();
    return PromiseWorker::Start(env, {tokens, out}, [e, tp, T, from, temp, op] {
      std::lock_guard<std::mutex> lock(e->mutex());
      if (DeviceEngine* d = e->device()) d->token_logprobs(tp, T, from, temp, op);
      else e->token_logprobs(tp, T, from, temp, op);
    }, [](Napi::Env, const std::vector<Napi::Value>& p) { return p[1]; });
  }

  // The packed sequences of a batch: { tokens, seqOffsets [B+1], responseStarts [B] }, each sequence
  // checked (at least 2 tokens, responseStart in [1, T)). The items point into `tokens`.
  struct PackedSequences {
    Napi::Int32Array tokens, offsets, starts;
    std::vector<GroupItem> items;
    int64_t response_tokens = 0;  // sum of T - responseStart
  };
  static PackedSequences read_packed_sequences(Napi::Env env, Napi::Object in, const char* fn) {
    PackedSequences p{int32_field(in, fn, "tokens"), int32_field(in, fn, "seqOffsets"), int32_field(in, fn, "responseStarts"), {}, 0};
    const size_t B = p.starts.ElementLength();
    const std::string f(fn);
    if (B == 0) throw Napi::RangeError::New(env, f + ": the batch is empty");
    require_length(env, fn, "seqOffsets", p.offsets.ElementLength(), int64_t(B) + 1, "B + 1 for B = responseStarts.length");
    if (p.offsets[0] != 0 || size_t(p.offsets[B]) != p.tokens.ElementLength())
      throw Napi::RangeError::New(env, f + ": seqOffsets must start at 0 and end at tokens.length");
    for (size_t b = 0; b < B; b++) {
      const int64_t T = int64_t(p.offsets[b + 1]) - p.offsets[b];
      if (T < 2) throw Napi::RangeError::New(env, f + ": sequence " + std::to_string(b) + " has fewer than 2 tokens (seqOffsets must increase)");
      if (p.starts[b] < 1 || p.starts[b] >= T)
        throw Napi::RangeError::New(env, f + ": responseStart of sequence " + std::to_string(b) + " is " + std::to_string(p.starts[b]) +
                                              ", outside [1, " + std::to_string(T) + ")");
      p.items.push_back({p.tokens.Data() + p.offsets[b], T, p.starts[b]});
      p.response_tokens += T - p.starts[b];
    }
    return p;
  }

  // tokenLogprobsBatch({ tokens, seqOffsets [B+1], responseStarts [B] }, temperature)
  //   -> Promise<Float32Array> of every sequence's response log-probs, sequence after sequence.
  Napi::Value TokenLogprobsBatch(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const char* fn = "tokenLogprobsBatch";
    auto e = live(env);
    const PackedSequences p = read_packed_sequences(env, object_arg(info, 0, fn, "batch"), fn);
    const float temp = float(as_number(env, arg(info, 1), "tokenLogprobsBatch: temperature"));
    Napi::Float32Array out = Napi::Float32Array::New(env, size_t(p.response_tokens));
    std::vector<LogprobItem> items;
    float* op = out.Data();
    for (const GroupItem& it : p.items) {
      items.push_back({it.tokens, it.T, it.response_start, op});
      op += it.T - it.response_start;
    }
    return PromiseWorker::Start(env, {p.tokens, p.offsets, p.starts, out}, [e, items, temp] {
      std::lock_guard<std::mutex> lock(e->mutex());
      if (DeviceEngine* d = e->device()) d->token_logprobs_batch(items, temp);
      else e->token_logprobs_batch(items, temp);
    }, [](Napi::Env, const std::vector<Napi::Value>& pinned) { return pinned[3]; });
  }

  // initLora(rank, alpha, baseNames: string[], randomB: boolean, seed: number)
  Napi::Value InitLora(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const int64_t rank = int_arg(info, 0, "rank", 1, 4096);
    const float alpha = float(as_number(env, arg(info, 1), "alpha"));
    if (info.Length() < 3 || !info[2].IsArray()) throw Napi::TypeError::New(env, "targets must be an array of tensor names");
    Napi::Array arr = info[2].As<Napi::Array>();
    std::vector<std::string> names;
    for (uint32_t i = 0; i < arr.Length(); i++) {
      Napi::Value v = arr.Get(i);
      if (!v.IsString()) throw Napi::TypeError::New(env, "targets[" + std::to_string(i) + "] must be a string");
      names.push_back(v.As<Napi::String>().Utf8Value());
    }
    const bool random_b = bool_arg(info, 3, "randomB", false);
    const int64_t seed = int_arg(info, 4, "seed", 0, int64_t(1) << 53);
    quick(env, [&](Engine& e) {
      e.init_lora(rank, alpha, names, random_b, uint64_t(seed));
      lora_changed(e);
      return 0;
    });
    return env.Undefined();
  }

  Napi::Value ClearLora(const Napi::CallbackInfo& info) {
    quick(info.Env(), [](Engine& e) {
      e.clear_lora();
      lora_changed(e);
      return 0;
    });
    return info.Env().Undefined();
  }

  Napi::Value LoraInfo(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return quick(env, [&](Engine& e) {
      const LoraState& l = e.lora();
      Napi::Object o = Napi::Object::New(env);
      o.Set("rank", double(l.rank));
      o.Set("alpha", l.alpha);
      o.Set("step", double(l.step));
      Napi::Array list = Napi::Array::New(env, l.tensors.size());
      for (size_t i = 0; i < l.tensors.size(); i++) {
        Napi::Object t = Napi::Object::New(env);
        t.Set("name", l.tensors[i].base_name());
        t.Set("inFeatures", double(l.tensors[i].n_in));
        t.Set("outFeatures", double(l.tensors[i].n_out));
        list.Set(uint32_t(i), t);
      }
      o.Set("tensors", list);
      return o;
    });
  }

  static std::vector<float>& part(LoraTensor& t, const std::string& which, Napi::Env env) {
    if (which == "a") return t.A;
    if (which == "b") return t.B;
    if (which == "gradA") return t.gA;
    if (which == "gradB") return t.gB;
    if (which == "mA") return t.mA;
    if (which == "vA") return t.vA;
    if (which == "mB") return t.mB;
    if (which == "vB") return t.vB;
    throw Napi::RangeError::New(env, "unknown LoRA part '" + which + "' (a, b, gradA, gradB, mA, vA, mB, vB)");
  }

  // getLoraTensor(baseName, part) -> Float32Array copy. A is [r, n_in], B is [n_out, r], row-major.
  Napi::Value GetLoraTensor(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const std::string name = string_arg(info, 0, "name"), which = string_arg(info, 1, "part");
    return quick(env, [&](Engine& e) {
      const std::vector<float>& v = part(e.lora_tensor(name), which, env);
      Napi::Float32Array out = Napi::Float32Array::New(env, v.size());
      std::copy(v.begin(), v.end(), out.Data());
      return out;
    });
  }

  Napi::Value SetLoraTensor(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const std::string name = string_arg(info, 0, "name"), which = string_arg(info, 1, "part");
    Napi::Float32Array values = float32_arg(info, 2, "values");
    quick(env, [&](Engine& e) {
      std::vector<float>& v = part(e.lora_tensor(name), which, env);
      if (values.ElementLength() != v.size())
        throw Napi::RangeError::New(env, name + " " + which + ": expected " + std::to_string(v.size()) + " values, got " + std::to_string(values.ElementLength()));
      for (size_t i = 0; i < v.size(); i++)
        if (!std::isfinite(values[i])) throw Napi::RangeError::New(env, name + " " + which + ": value " + std::to_string(i) + " is not finite");
      std::copy(values.Data(), values.Data() + v.size(), v.begin());
      lora_changed(e);
      return 0;
    });
    return env.Undefined();
  }

  Napi::Value SetOptimizerStep(const Napi::CallbackInfo& info) {
    const int64_t step = int_arg(info, 0, "step", 0, int64_t(1) << 40);
    quick(info.Env(), [&](Engine& e) { const_cast<LoraState&>(e.lora()).step = step; return 0; });
    return info.Env().Undefined();
  }

  // backward({ tokens, seqOffsets [B+1], responseStarts [B], advantages [B], weights [B], oldLogp, refLogp },
  //          settings: GrpoLossSettings) -> Promise<sums>
  Napi::Value Backward(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const char* fn = "backward";
    auto e = live(env);
    Napi::Object in = object_arg(info, 0, fn, "batch");
    const PackedSequences p = read_packed_sequences(env, in, fn);
    Napi::Float32Array adv = float32_field(in, fn, "advantages");
    Napi::Float32Array weights = float32_field(in, fn, "weights");
    Napi::Float32Array old_lp = float32_field(in, fn, "oldLogp");
    Napi::Float32Array ref_lp = float32_field(in, fn, "refLogp");
    const GrpoLossConfig cfg = read_loss_settings(object_arg(info, 1, fn, "settings"), fn);

    const size_t B = p.items.size();
    require_length(env, fn, "advantages", adv.ElementLength(), int64_t(B), "one per sequence");
    require_length(env, fn, "weights", weights.ElementLength(), int64_t(B), "one per sequence");
    require_length(env, fn, "oldLogp", old_lp.ElementLength(), p.response_tokens, "one per response token");
    require_length(env, fn, "refLogp", ref_lp.ElementLength(), p.response_tokens, "one per response token");
    std::vector<SequenceItem> batch(B);
    size_t lp = 0;
    for (size_t b = 0; b < B; b++) {
      SequenceItem& s = batch[b];
      s.tokens = p.items[b].tokens;
      s.T = p.items[b].T;
      s.response_start = p.items[b].response_start;
      s.advantage = adv[b];
      s.weight = weights[b];
      s.old_logp = old_lp.Data() + lp;
      s.ref_logp = ref_lp.Data() + lp;
      lp += size_t(s.T - s.response_start);
    }
    auto result = std::make_shared<BackwardResult>();
    return PromiseWorker::Start(env, {p.tokens, p.offsets, p.starts, adv, weights, old_lp, ref_lp},
        [e, batch, cfg, result] {
          std::lock_guard<std::mutex> lock(e->mutex());
          if (DeviceEngine* d = e->device()) *result = d->backward(batch, cfg);
          else *result = e->backward(batch, cfg);
        },
        [result](Napi::Env env, const std::vector<Napi::Value>&) -> Napi::Value {
          Napi::Object r = Napi::Object::New(env);
          r.Set("loss", result->loss);
          r.Set("tokens", double(result->sums.tokens));
          r.Set("clippedLow", double(result->sums.clipped_low));
          r.Set("clippedHigh", double(result->sums.clipped_high));
          r.Set("klSum", result->sums.kl_sum);
          r.Set("ratioSum", result->sums.ratio_sum);
          return r;
        });
  }

  // optimizerStep(settings: OptimizerSettings) -> Promise<gradient norm before clipping>
  Napi::Value OptimizerStep(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto e = live(env);
    const AdamWConfig cfg = read_optimizer_settings(object_arg(info, 0, "optimizerStep", "settings"), "optimizerStep");
    auto norm = std::make_shared<double>(0.0);
    return PromiseWorker::Start(env, {}, [e, cfg, norm] {
      std::lock_guard<std::mutex> lock(e->mutex());
      if (DeviceEngine* d = e->device()) *norm = d->optimizer_step(cfg);
      else *norm = e->optimizer_step(cfg);
    }, [norm](Napi::Env env, const std::vector<Napi::Value>&) -> Napi::Value { return Napi::Number::New(env, *norm); });
  }

  Napi::Value ZeroGrad(const Napi::CallbackInfo& info) {
    quick(info.Env(), [](Engine& e) {
      if (DeviceEngine* d = e.device()) d->zero_grad();
      else e.zero_grad();
      return 0;
    });
    return info.Env().Undefined();
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    engine_.reset();
    return info.Env().Undefined();
  }
};

Napi::FunctionReference* NativeEngine::constructor = nullptr;

}  // namespace

void RegisterEngine(Napi::Env env, Napi::Object exports) { NativeEngine::Init(env, exports); }

}  // namespace spogw::napi
