// Bindings for the fused log-prob + ioGRPO-mKL loss (spogw/grpo_loss.h); the shapes are in
// src/native/AddonTypes.ts:
//   grpoLoss({ hidden, lmHead, targets, seqStarts, advantages, seqWeights, oldLogp, refLogp,
//              epsilon, epsilonHigh, beta, temperature, klMask }, { device, tileRows })
//     -> Promise<{ loss, logp: Float32Array [T], dHidden: Float32Array [T, d], tokens, clippedLow,
//                  clippedHigh, klSum, ratioSum, tileRows, workspaceBytes, gemm }>
//   selectiveLogprobs({ hidden, lmHead, targets, temperature }, { device, tileRows }) -> Promise<Float32Array [T]>
//   lossGemmsOnly(hidden, lmHead, T, tileRows) -> Promise<Float32Array [T, d]>   (benchmark only)
// device is "cpu" or "cuda"; tileRows 0 = the kernel's own choice. Shapes are derived here from the
// array lengths and checked; the core then validates values (settings, finiteness, targets,
// seqStarts) in the worker before computing anything, and its errors reject the promise. These take
// arrays from anywhere, so they run the kernels' checked entries.
#include <algorithm>
#include <memory>
#include <string>

#include "async.h"
#include "convert.h"
#include "register.h"
#include "settings.h"
#include "spogw/error.h"
#include "spogw/gemm.h"
#include "spogw/grpo_loss.h"

namespace spogw::napi {

namespace {

constexpr int64_t kMaxRows = 2147483647;

struct Shape {
  int64_t T, d, V;
};

// Given T tokens: d = hidden.length / T and V = lmHead.length / d, each a whole number.
Shape derive_shape(Napi::Env env, const char* fn, const Napi::Float32Array& hidden,
                   const Napi::Float32Array& lm_head, int64_t T) {
  const int64_t hn = int64_t(hidden.ElementLength()), ln = int64_t(lm_head.ElementLength());
  if (T < 1) throw Napi::RangeError::New(env, std::string(fn) + ": targets is empty; there are no tokens to score");
  if (hn == 0 || hn % T != 0)
    throw Napi::RangeError::New(env, std::string(fn) + ": hidden has " + std::to_string(hn) + " values, which is not " +
                                         std::to_string(T) + " tokens times a whole hidden size d");
  const int64_t d = hn / T;
  if (ln == 0 || ln % d != 0)
    throw Napi::RangeError::New(env, std::string(fn) + ": lmHead has " + std::to_string(ln) +
                                         " values, which is not a whole number of rows of d = " + std::to_string(d));
  return {T, d, ln / d};
}

// What every output-layer kernel reads: hidden [T, d], lmHead [V, d] and targets [T], the shape
// derived from their lengths (T = targets.length).
struct OutputLayer {
  Napi::Float32Array hidden, lm_head;
  Napi::Int32Array targets;
  Shape sh;
};

OutputLayer read_output_layer(Napi::Object input, const char* fn) {
  OutputLayer o{float32_field(input, fn, "hidden"), float32_field(input, fn, "lmHead"), int32_field(input, fn, "targets"), {}};
  o.sh = derive_shape(input.Env(), fn, o.hidden, o.lm_head, int64_t(o.targets.ElementLength()));
  return o;
}

// Where and in what tiles a loss kernel runs: { device: "cpu" | "cuda", tileRows } (both required).
struct LossRun {
  bool cuda;
  int64_t tile_rows;
};

LossRun read_loss_run(const Napi::CallbackInfo& info, size_t i, const char* fn) {
  Napi::Object o = object_arg(info, i, fn, "run options");
  const std::string device = string_field(o, fn, "device");
  LossRun run{false, int_field(o, fn, "tileRows", 0, kMaxRows)};
  if (device == "cuda") {
#ifdef SPOGW_WITH_CUDA
    run.cuda = true;
#else
    throw Napi::Error::New(info.Env(), "device \"cuda\": this binary was built without CUDA (the CPU variant)");
#endif
  } else if (device != "cpu") {
    throw Napi::TypeError::New(info.Env(), std::string(fn) + ": device must be \"cpu\" or \"cuda\", got \"" + device + "\"");
  }
  return run;
}

Napi::Value GrpoLoss(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* fn = "grpoLoss";
  Napi::Object input = object_arg(info, 0, fn, "input");
  const OutputLayer ol = read_output_layer(input, fn);
  const Napi::Float32Array &hidden = ol.hidden, &lm_head = ol.lm_head;
  const Napi::Int32Array& targets = ol.targets;
  const Shape sh = ol.sh;
  Napi::Int32Array seq_starts = int32_field(input, fn, "seqStarts");
  Napi::Float32Array advantages = float32_field(input, fn, "advantages");
  Napi::Float32Array seq_weights = float32_field(input, fn, "seqWeights");
  Napi::Float32Array old_logp = float32_field(input, fn, "oldLogp");
  Napi::Float32Array ref_logp = float32_field(input, fn, "refLogp");
  const GrpoLossConfig cfg = read_loss_settings(input, fn);
  const LossRun run = read_loss_run(info, 1, fn);

  if (seq_starts.ElementLength() < 2)
    throw Napi::RangeError::New(env, "grpoLoss: seqStarts needs S + 1 >= 2 entries (at least one response)");
  const int64_t S = int64_t(seq_starts.ElementLength()) - 1;
  require_length(env, fn, "advantages", advantages.ElementLength(), S, "one per response, S = seqStarts.length - 1");
  require_length(env, fn, "seqWeights", seq_weights.ElementLength(), S, "one per response, S = seqStarts.length - 1");
  require_length(env, fn, "oldLogp", old_logp.ElementLength(), sh.T, "one per token, T = targets.length");
  require_length(env, fn, "refLogp", ref_logp.ElementLength(), sh.T, "one per token, T = targets.length");

  GrpoLossInputs in;
  in.hidden = hidden.Data();
  in.lm_head = lm_head.Data();
  in.targets = targets.Data();
  in.seq_starts = seq_starts.Data();
  in.advantages = advantages.Data();
  in.seq_weights = seq_weights.Data();
  in.old_logp = old_logp.Data();
  in.ref_logp = ref_logp.Data();
  in.T = sh.T;
  in.d = sh.d;
  in.V = sh.V;
  in.S = S;
  int64_t td;
  try {
    td = checked_mul(sh.T, sh.d, "dHidden");
  } catch (const Error& e) {
    throw Napi::RangeError::New(env, e.what());
  }
  Napi::Float32Array logp = Napi::Float32Array::New(env, size_t(sh.T));
  Napi::Float32Array d_hidden = Napi::Float32Array::New(env, size_t(td));
  GrpoLossOutputs out{logp.Data(), d_hidden.Data()};
  const bool cuda = run.cuda;
  const int64_t budget = cuda ? kGrpoCudaTileBudgetBytes : kGrpoTileBudgetBytes;
  const int64_t rows = run.tile_rows > 0 ? std::min(run.tile_rows, sh.T) : grpo_tile_rows(sh.T, sh.V, budget);
  auto sums = std::make_shared<GrpoLossSums>();
  return PromiseWorker::Start(
      env, {hidden, lm_head, targets, seq_starts, advantages, seq_weights, old_logp, ref_logp, logp, d_hidden},
      [=] {
#ifdef SPOGW_WITH_CUDA
        if (cuda) {
          *sums = grpo_loss_cuda(in, cfg, out, rows);
          return;
        }
#endif
        (void)cuda;
        *sums = grpo_loss_fused(in, cfg, out, rows);
      },
      [=](Napi::Env env, const std::vector<Napi::Value>& pinned) -> Napi::Value {
        Napi::Object r = Napi::Object::New(env);
        r.Set("loss", sums->loss);
        r.Set("logp", pinned[8]);
        r.Set("dHidden", pinned[9]);
        r.Set("tokens", double(sums->tokens));
        r.Set("clippedLow", double(sums->clipped_low));
        r.Set("clippedHigh", double(sums->clipped_high));
        r.Set("klSum", sums->kl_sum);
        r.Set("ratioSum", sums->ratio_sum);
        r.Set("tileRows", double(rows));
        r.Set("workspaceBytes", double(grpo_workspace_bytes(rows, in.V)));
#ifdef SPOGW_WITH_CUDA
        r.Set("gemm", cuda ? grpo_cuda_gemm_name() : blas_name());
#else
        r.Set("gemm", blas_name());
#endif
        return r;
      });
}

Napi::Value SelectiveLogprobs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* fn = "selectiveLogprobs";
  Napi::Object input = object_arg(info, 0, fn, "input");
  const OutputLayer ol = read_output_layer(input, fn);
  const float temperature = float_field(input, fn, "temperature");
  const LossRun run = read_loss_run(info, 1, fn);
  const bool cuda = run.cuda;
  const int64_t tile_rows = run.tile_rows;
  const Shape sh = ol.sh;
  Napi::Float32Array out = Napi::Float32Array::New(env, size_t(sh.T));
  const float* h = ol.hidden.Data();
  const float* w = ol.lm_head.Data();
  const int32_t* tg = ol.targets.Data();
  float* o = out.Data();
  return PromiseWorker::Start(
      env, {ol.hidden, ol.lm_head, ol.targets, out},
      [=] {
#ifdef SPOGW_WITH_CUDA
        if (cuda) {
          selective_logprobs_cuda(h, w, tg, sh.T, sh.d, sh.V, temperature, o, tile_rows);
          return;
        }
#endif
        (void)cuda;
        selective_logprobs(h, w, tg, sh.T, sh.d, sh.V, temperature, o, tile_rows);
      },
      [](Napi::Env, const std::vector<Napi::Value>& pinned) { return pinned[3]; });
}

Napi::Value LossGemmsOnly(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Float32Array hidden = float32_arg(info, 0, "hidden");
  Napi::Float32Array lm_head = float32_arg(info, 1, "lmHead");
  const int64_t tile_rows = int_arg(info, 3, "tileRows", 0, kMaxRows);
  const Shape sh = derive_shape(env, "lossGemmsOnly", hidden, lm_head, int_arg(info, 2, "tokens", 1, kMaxRows));
  Napi::Float32Array out = Napi::Float32Array::New(env, hidden.ElementLength());
  const float* h = hidden.Data();
  const float* w = lm_head.Data();
  float* o = out.Data();
  const int64_t T = sh.T, d = sh.d, V = sh.V;
  return PromiseWorker::Start(
      env, {hidden, lm_head, out}, [=] { grpo_loss_gemms_only(h, w, T, d, V, o, tile_rows); },
      [](Napi::Env, const std::vector<Napi::Value>& pinned) { return pinned[2]; });
}

}  // namespace

void RegisterLoss(Napi::Env env, Napi::Object exports) {
  exports.Set("grpoLoss", Napi::Function::New(env, GrpoLoss, "grpoLoss"));
  exports.Set("selectiveLogprobs", Napi::Function::New(env, SelectiveLogprobs, "selectiveLogprobs"));
  exports.Set("lossGemmsOnly", Napi::Function::New(env, LossGemmsOnly, "lossGemmsOnly"));
}

}  // namespace spogw::napi
