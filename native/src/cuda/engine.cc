// The CUDA engine (device_engine.h): Engine's forward, log-probs, backward and AdamW on the device, in
// the shared-prompt row layout of group_layout.h, op for op the CPU engine's sequence (engine.cc) with
// the device ops of ops.h, linear.h and loss.h.
//
// Held on the device for the engine's life: the frozen weights (linear.h says in which types and why),
// the norms and biases, the RoPE angle table (grown to the longest position seen), the adapter with
// its gradients and AdamW moments. Per call: the group's tokens, positions and segment starts, each
// layer's input [rows, d] (the backward's checkpoints: one layer's activations are recomputed at a
// time, as on the CPU), one layer's activations, and the loss kernel's tiles. Attention never holds a
// [heads, rows, rows] tensor (attention.cu).
#include <algorithm>
#include <array>
#include <cmath>
#include <string>
#include <vector>

#include "linear.h"
#include "loss.h"
#include "ops.h"
#include "runtime.h"
#include "spogw/engine/device_engine.h"
#include "spogw/engine/group_layout.h"
#include "spogw/finite.h"

namespace spogw::gpu {

namespace {

// What a device-memory shortage in each call means for the user.
constexpr const char* kReduceBatch =
    "reduce the rows of one call: fewer or shorter responses per backward/log-prob call (a group's rows are its prompt plus its "
    "responses), or a shorter prompt";

struct DeviceLayer {
  Buffer<float> attn_norm, ffn_norm, bq, bk, bv;
  std::array<DeviceWeight, kProjCount> w;
};

struct DeviceLoraTensor {
  Buffer<float> A, B, gA, gB, mA, vA, mB, vB;
};

// One layer's activations (saved by layer_forward for layer_backward) and the backward's scratch.
struct Acts {
  Buffer<float> n1, rstd1, q, k, v, att, stats, h, n2, rstd2, gate, up, act;
  std::array<Buffer<float>, kProjCount> xa;
  Buffer<float> dh, dact, dgate, dup, dn, dnorm, datt, dq, dk, dv, row_dot;
  LinearScratch lin;
};

// A group's rows on the device: tokens, positions and, per row, the first row of its segment (the
// prompt: 0; a response: its R_k), which is what the attention kernels read as the tree.
struct DeviceRows {
  Buffer<int32_t> tokens, positions, segment;
  int64_t rows = 0, prompt_rows = 0, max_position = 0;
  AttnTree tree() const { return AttnTree{segment.get(), prompt_rows}; }
};

// The output layer's rows of a group: for response k, row P - 1 and then R_k .. R_k + n_k - 2, with
// the tokens they predict; `first[k]` is where response k's rows start among them.
struct PredictorRows {
  std::vector<int32_t> row, target, seq;
  std::vector<int64_t> first;
};

PredictorRows predictor_rows(const GroupLayout& g) {
  PredictorRows p;
  for (size_t k = 0; k < g.responses.size(); k++) {
    const GroupResponse& r = g.responses[k];
    p.first.push_back(int64_t(p.row.size()));
    for (int64_t j = 0; j < r.length; j++) {
      p.row.push_back(int32_t(j == 0 ? g.prompt_rows - 1 : r.row + j - 1));
      p.target.push_back(g.tokens[size_t(r.row + j)]);
      p.seq.push_back(int32_t(k));
    }
  }
  return p;
}

GroupLayout whole_sequence(const int32_t* tokens, int64_t T) {
  GroupLayout g;
  g.tokens.assign(tokens, tokens + T);
  g.prompt_rows = T;
  for (int64_t t = 0; t < T; t++) g.positions.push_back(int32_t(t));
  return g;
}

template <class T>
Buffer<T> upload_vector(const std::vector<T>& v, const char* what) {
  Buffer<T> b(std::max<int64_t>(1, int64_t(v.size())), what);
  if (!v.empty()) b.upload(v.data(), int64_t(v.size()));
  return b;
}

void require_finite_logp(const char* fn, const std::vector<float>& logp) {
  for (size_t i = 0; i < logp.size(); i++)
    if (!std::isfinite(logp[i]))
      throw Error(std::string(fn) + ": log-prob " + std::to_string(i) + " is not finite (the forward overflowed on the device)");
}

class CudaEngine final : public DeviceEngine {
 public:
  CudaEngine(Engine& host, const DeviceEngineOptions& options)
      : host_(host), c_(host.config()), precision_(options.precision == DevicePrecision::kF32 ? Precision::kF32 : Precision::kBF16) {
    require_device("loading the engine");
    reset_peak();
    const ModelWeights& w = host.model().weights;
    const int64_t d = c_.d;
    try {
      uint64_t matrix = 0;
      const auto weight = [&](const FrozenWeight& src, int64_t rows, int64_t cols, const char* name) {
        if (options.random_weights_seed == 0) return upload_weight(src, rows, cols, precision_, name);
        return random_weight(rows, cols, DType::kBF16, 1.0f / std::sqrt(float(cols)), options.random_weights_seed + 7919 * ++matrix, name);
      };
      embd_ = weight(w.token_embd, c_.vocab, d, "token_embd.weight");
      if (!c_.tied) head_own_ = weight(w.output, c_.vocab, d, "output.weight");
      out_norm_ = upload_vector(w.output_norm, "output_norm.weight");
      layers_.resize(size_t(c_.layers));
      for (int64_t l = 0; l < c_.layers; l++) {
        const LayerWeights& src = w.layers[size_t(l)];
        DeviceLayer& dst = layers_[size_t(l)];
        dst.attn_norm = upload_vector(src.attn_norm, "attn_norm.weight");
        dst.ffn_norm = upload_vector(src.ffn_norm, "ffn_norm.weight");
        if (!src.bq.empty()) {
          dst.bq = upload_vector(src.bq, "attn_q.bias");
          dst.bk = upload_vector(src.bk, "attn_k.bias");
          dst.bv = upload_vector(src.bv, "attn_v.bias");
        }
        for (int p = 0; p < kProjCount; p++) {
          const std::string name = "blk." + std::to_string(l) + "." + proj_name(Proj(p)) + ".weight";
          dst.w[size_t(p)] = weight(src.w[size_t(p)], proj_out(c_, Proj(p)), proj_in(c_, Proj(p)), name.c_str());
        }
      }
    } catch (const OutOfMemory& e) {
      throw Error(std::string("loading the model on CUDA: ") + e.what() +
                  "; the frozen weights do not fit: use a smaller model or a device with more memory");
    }
    synchronize("uploading the model");
    weight_bytes_ = allocated_bytes();
    upload_lora();
  }

  void logits(const int32_t* tokens, int64_t T, float* out) override {
    guarded("logits", "use tokenLogprobs, or a shorter sequence", [&] {
      host_.check_tokens("logits", tokens, T);
      const DeviceRows& g = upload_rows(whole_sequence(tokens, T));
      forward(g, false);
      logits_to_host(hn_.get(), T, head(), out, loss_);
    });
  }

  void token_logprobs(const int32_t* tokens, int64_t T, int64_t from, float temperature, float* out) override {
    guarded("tokenLogprobs", "use a shorter sequence", [&] {
      if (from < 1 || from >= T)
        throw Error("tokenLogprobs: from = " + std::to_string(from) + " must be in [1, " + std::to_string(T) + ") (token 0 has no context)");
      host_.check_tokens("tokenLogprobs", tokens, T);
      check_temperature("tokenLogprobs", temperature);
      const DeviceRows& g = upload_rows(whole_sequence(tokens, T));
      forward(g, false);
      Buffer<float> logp(T - from, "log-probs");
      selective_logprobs_device(hn_.get() + (from - 1) * c_.d, g.tokens.get() + from, T - from, head(), temperature, logp.get(), loss_);
      std::vector<float> host(size_t(T - from));
      logp.download(host.data(), T - from);
      require_finite_logp("tokenLogprobs", host);
      std::copy(host.begin(), host.end(), out);
    });
  }

  void token_logprobs_batch(const std::vector<LogprobItem>& items, float temperature) override {
    guarded("tokenLogprobsBatch", kReduceBatch, [&] {
      for (const GroupLayout& layout : plan_groups(host_.plan_logprob_items(items, temperature))) {
        const DeviceRows& g = upload_rows(layout);
        forward(g, false);
        const PredictorRows p = predictor_rows(layout);
        const int64_t N = int64_t(p.row.size());
        Buffer<int32_t> rows = upload_vector(p.row, "predictor rows"), targets = upload_vector(p.target, "targets");
        Buffer<float> hidden(N * c_.d, "predictor rows' hidden states"), logp(N, "log-probs");
        embedding_forward(hn_.get(), DType::kF32, c_.d, rows.get(), N, hidden.get());  // a row gather
        selective_logprobs_device(hidden.get(), targets.get(), N, head(), temperature, logp.get(), loss_);
        std::vector<float> host(static_cast<size_t>(N));
        logp.download(host.data(), N);
        require_finite_logp("tokenLogprobsBatch", host);
        for (size_t k = 0; k < layout.responses.size(); k++) {
          const GroupResponse& r = layout.responses[k];
          std::copy_n(host.begin() + p.first[k], r.length, items[size_t(r.item)].out);
        }
      }
    });
  }

  BackwardResult backward(const std::vector<SequenceItem>& batch, const GrpoLossConfig& cfg) override {
    BackwardResult result;
    guarded("backward", kReduceBatch, [&] {
      const std::vector<GroupLayout> groups = plan_groups(host_.plan_backward_batch(batch, cfg));
      // Every buffer the loop below needs is allocated before the first gradient is touched: running out
      // of device memory then leaves the accumulated gradients as they were.
      int64_t max_rows = 0, max_pred = 0;
      for (const GroupLayout& g : groups) {
        max_rows = std::max(max_rows, g.rows());
        max_pred = std::max(max_pred, g.rows() - g.prompt_rows + int64_t(g.responses.size()));
      }
      reserve_backward(max_rows, max_pred);
      device_ahead_ = true;  // from here on the device's gradients change
      for (const GroupLayout& layout : groups) backward_group(layout, batch, cfg, result);
    });
    return result;
  }

  double optimizer_step(const AdamWConfig& cfg) override {
    check_adamw_config(cfg);
    sync_lora();
    LoraState& lora = host_.lora_state();
    if (lora.tensors.empty()) throw Error("optimizerStep: no LoRA adapter is initialised");
    const int64_t step = lora.step + 1;
    double sq = 0.0;
    for (size_t i = 0; i < lora_.size(); i++) {
      sq += grad_sq_sum(lora_[i].gA.get(), lora_[i].gA.size());
      sq += grad_sq_sum(lora_[i].gB.get(), lora_[i].gB.size());
    }
    const double norm = std::sqrt(sq);
    device_ahead_ = true;
    if (!std::isfinite(norm)) {
      zero_grad();
      throw Error("optimizerStep: the gradient norm is not finite; the step was skipped and the gradients cleared");
    }
    const float clip = clip_factor(norm, cfg.max_grad_norm);
    const float bc1 = 1.0f - std::pow(cfg.beta1, float(step)), bc2 = 1.0f - std::pow(cfg.beta2, float(step));
    for (DeviceLoraTensor& t : lora_) {
      adamw_update(t.A.get(), t.gA.get(), t.mA.get(), t.vA.get(), t.A.size(), clip, cfg.lr, cfg.beta1, cfg.beta2, cfg.eps, cfg.weight_decay,
                   bc1, bc2);
      adamw_update(t.B.get(), t.gB.get(), t.mB.get(), t.vB.get(), t.B.size(), clip, cfg.lr, cfg.beta1, cfg.beta2, cfg.eps, cfg.weight_decay,
                   bc1, bc2);
    }
    synchronize("optimizerStep");
    lora.step = step;
    return norm;
  }

  void zero_grad() override {
    sync_lora();
    for (DeviceLoraTensor& t : lora_) {
      t.gA.zero();
      t.gB.zero();
    }
    device_ahead_ = true;
  }

  void lora_replaced() override {
    host_ahead_ = true;
    device_ahead_ = false;
  }

  // The host copy to the device (lora_replaced only marks it: an adapter loaded tensor by tensor is
  // uploaded once, at the next computation).
  void upload_lora() {
    const LoraState& lora = host_.lora();
    lora_.clear();
    lora_.resize(lora.tensors.size());
    try {
      for (size_t i = 0; i < lora.tensors.size(); i++) {
        const LoraTensor& h = lora.tensors[i];
        DeviceLoraTensor& t = lora_[i];
        t.A = upload_vector(h.A, "LoRA A");
        t.B = upload_vector(h.B, "LoRA B");
        t.gA = upload_vector(h.gA, "LoRA gradients");
        t.gB = upload_vector(h.gB, "LoRA gradients");
        t.mA = upload_vector(h.mA, "AdamW moments");
        t.vA = upload_vector(h.vA, "AdamW moments");
        t.mB = upload_vector(h.mB, "AdamW moments");
        t.vB = upload_vector(h.vB, "AdamW moments");
      }
    } catch (const OutOfMemory& e) {
      lora_.clear();
      throw Error(std::string("LoRA adapter on CUDA: ") + e.what() + "; use a smaller rank or fewer target projections");
    }
    host_ahead_ = device_ahead_ = false;
  }

  void sync_lora() {
    if (host_ahead_) upload_lora();
  }

  void lora_to_host() override {
    if (!device_ahead_) return;
    LoraState& lora = host_.lora_state();
    for (size_t i = 0; i < lora.tensors.size(); i++) {
      LoraTensor& h = lora.tensors[i];
      const DeviceLoraTensor& t = lora_[i];
      t.A.download(h.A.data(), int64_t(h.A.size()));
      t.B.download(h.B.data(), int64_t(h.B.size()));
      t.gA.download(h.gA.data(), int64_t(h.gA.size()));
      t.gB.download(h.gB.data(), int64_t(h.gB.size()));
      t.mA.download(h.mA.data(), int64_t(h.mA.size()));
      t.vA.download(h.vA.data(), int64_t(h.vA.size()));
      t.mB.download(h.mB.data(), int64_t(h.mB.size()));
      t.vB.download(h.vB.data(), int64_t(h.vB.size()));
    }
    device_ahead_ = false;
  }

  DeviceEngineStatus status() const override {
    DeviceEngineStatus s;
    s.device = device_name();
    s.products = gemm_backend();
    s.precision = precision_name(precision_);
    s.weight_bytes = weight_bytes_;
    s.allocated_bytes = allocated_bytes();
    s.peak_bytes = peak_allocated_bytes();
    const MemInfo m = mem_info();
    s.free_bytes = m.free_bytes;
    s.total_bytes = m.total_bytes;
    return s;
  }

 private:
  const DeviceWeight& head() const { return head_own_.empty() ? embd_ : head_own_; }

  // Runs a public call; device memory running out becomes an Error naming the call and what to reduce,
  // and the call's working memory is given back.
  template <class Fn>
  void guarded(const char* fn, const char* reduce, Fn&& body) {
    try {
      sync_lora();
      body();
    } catch (const OutOfMemory& e) {
      release_workspace();
      throw Error(std::string(fn) + " on CUDA: " + e.what() + "; " + reduce);
    }
  }

  void release_workspace() {
    rows_ = DeviceRows();
    acts_ = Acts();
    inputs_.clear();
    for (Buffer<float>* b : {&x_, &next_, &hn_, &rstd_, &dx_, &dprev_, &pred_hidden_, &pred_grad_, &pred_logp_}) b->clear();
    loss_ = LossScratch();
  }

  DeviceLora lora_ref(int64_t layer, Proj p, bool with_grad) {
    DeviceLora ref;
    const LoraState& lora = host_.lora();
    const int i = lora.index.empty() ? -1 : lora.index[size_t(layer)][int(p)];
    if (i < 0) return ref;
    DeviceLoraTensor& t = lora_[size_t(i)];
    ref.A = t.A.get();
    ref.B = t.B.get();
    ref.r = lora.rank;
    ref.scale = lora.scale();
    if (with_grad) {
      ref.gA = t.gA.get();
      ref.gB = t.gB.get();
    }
    return ref;
  }

  // The angle table for positions [0, n), uploaded when a longer one is needed (rope_table's row p
  // depends on p alone).
  void ensure_rope(int64_t n) {
    if (n <= rope_rows_) return;
    RopeTable table;
    rope_table(table, n, c_.n_rot, c_.rope_theta);
    rope_cos_ = upload_vector(table.cos, "RoPE table");
    rope_sin_ = upload_vector(table.sin, "RoPE table");
    rope_half_ = table.half;
    rope_rows_ = n;
  }

  const DeviceRows& upload_rows(const GroupLayout& g) {
    DeviceRows& r = rows_;
    r.rows = g.rows();
    r.prompt_rows = g.prompt_rows;
    std::vector<int32_t> segment(size_t(g.rows()), 0);
    for (const GroupResponse& resp : g.responses)
      std::fill(segment.begin() + resp.row, segment.begin() + resp.row + resp.length, int32_t(resp.row));
    r.tokens.reserve(r.rows, "the group's tokens");
    r.positions.reserve(r.rows, "the group's positions");
    r.segment.reserve(r.rows, "the group's segments");
    r.tokens.upload(g.tokens.data(), r.rows);
    r.positions.upload(g.positions.data(), r.rows);
    r.segment.upload(segment.data(), r.rows);
    r.max_position = *std::max_element(g.positions.begin(), g.positions.end());
    ensure_rope(r.max_position + 1);
    return r;
  }

  float* xa_buffer(Acts& a, int64_t l, Proj p, int64_t R) {
    const LoraState& lora = host_.lora();
    if (lora.index.empty() || lora.index[size_t(l)][int(p)] < 0) return nullptr;
    return a.xa[size_t(p)].reserve(R * lora.rank, "LoRA products");
  }

  void layer_forward(int64_t l, const float* x, const DeviceRows& g, float* out, Acts& a) {
    const DeviceLayer& w = layers_[size_t(l)];
    const int64_t R = g.rows, d = c_.d, qd = c_.heads * c_.head_dim, kvd = c_.kv_heads * c_.head_dim, F = c_.ff;
    const auto W = [&](Proj p) -> const DeviceWeight& { return w.w[size_t(p)]; };
    const auto bias = [](const Buffer<float>& b) { return b.size() > 0 ? b.get() : nullptr; };
    const AttnShape shape{R, c_.heads, c_.kv_heads, c_.head_dim};
    float* n1 = a.n1.reserve(R * d, "activations");
    rmsnorm_forward(x, w.attn_norm.get(), R, d, c_.rms_eps, n1, a.rstd1.reserve(R, "activations"));
    float* q = a.q.reserve(R * qd, "activations");
    float* k = a.k.reserve(R * kvd, "activations");
    float* v = a.v.reserve(R * kvd, "activations");
    linear_forward(n1, R, W(Proj::kQ), bias(w.bq), lora_ref(l, Proj::kQ, false), q, xa_buffer(a, l, Proj::kQ, R), a.lin);
    linear_forward(n1, R, W(Proj::kK), bias(w.bk), lora_ref(l, Proj::kK, false), k, xa_buffer(a, l, Proj::kK, R), a.lin);
    linear_forward(n1, R, W(Proj::kV), bias(w.bv), lora_ref(l, Proj::kV, false), v, xa_buffer(a, l, Proj::kV, R), a.lin);
    rope_forward(q, R, c_.heads, c_.head_dim, rope_cos_.get(), rope_sin_.get(), rope_half_, c_.rope, g.positions.get());
    rope_forward(k, R, c_.kv_heads, c_.head_dim, rope_cos_.get(), rope_sin_.get(), rope_half_, c_.rope, g.positions.get());
    float* att = a.att.reserve(R * qd, "activations");
    attention_forward(q, k, v, shape, att, a.stats.reserve(2 * c_.heads * R, "attention statistics"), g.tree());
    float* h = a.h.reserve(R * d, "activations");
    linear_forward(att, R, W(Proj::kO), nullptr, lora_ref(l, Proj::kO, false), h, xa_buffer(a, l, Proj::kO, R), a.lin);
    add_inplace(h, x, R * d);
    float* n2 = a.n2.reserve(R * d, "activations");
    rmsnorm_forward(h, w.ffn_norm.get(), R, d, c_.rms_eps, n2, a.rstd2.reserve(R, "activations"));
    float* gate = a.gate.reserve(R * F, "activations");
    float* up = a.up.reserve(R * F, "activations");
    linear_forward(n2, R, W(Proj::kGate), nullptr, lora_ref(l, Proj::kGate, false), gate, xa_buffer(a, l, Proj::kGate, R), a.lin);
    linear_forward(n2, R, W(Proj::kUp), nullptr, lora_ref(l, Proj::kUp, false), up, xa_buffer(a, l, Proj::kUp, R), a.lin);
    float* act = a.act.reserve(R * F, "activations");
    swiglu_forward(gate, up, R * F, act);
    if (out == nullptr) {
      // Recomputation for the backward: only what it reads, which for the down projection is x A^T.
      const DeviceLora down = lora_ref(l, Proj::kDown, false);
      if (down.active()) gemm(false, true, R, down.r, F, 1.0f, act, F, down.A, F, DType::kF32, 0.0f, xa_buffer(a, l, Proj::kDown, R), down.r);
      return;
    }
    linear_forward(act, R, W(Proj::kDown), nullptr, lora_ref(l, Proj::kDown, false), out, xa_buffer(a, l, Proj::kDown, R), a.lin);
    add_inplace(out, h, R * d);
  }

  void layer_backward(int64_t l, const float* x, const float* dout, const DeviceRows& g, float* dx, Acts& a) {
    const DeviceLayer& w = layers_[size_t(l)];
    const int64_t R = g.rows, d = c_.d, qd = c_.heads * c_.head_dim, kvd = c_.kv_heads * c_.head_dim, F = c_.ff;
    const auto W = [&](Proj p) -> const DeviceWeight& { return w.w[size_t(p)]; };
    const auto xa = [&](Proj p) { return a.xa[size_t(p)].get(); };
    layer_forward(l, x, g, nullptr, a);

    // FFN half: out = h + down(swiglu(gate(n2), up(n2))).
    float* dh = a.dh.reserve(R * d, "gradients");
    copy_on_device(dh, dout, R * d * 4);
    float* dact = a.dact.reserve(R * F, "gradients");
    linear_backward(dout, a.act.get(), xa(Proj::kDown), R, W(Proj::kDown), lora_ref(l, Proj::kDown, true), dact, false, a.lin);
    float* dgate = a.dgate.reserve(R * F, "gradients");
    float* dup = a.dup.reserve(R * F, "gradients");
    swiglu_backward(dact, a.gate.get(), a.up.get(), R * F, dgate, dup);
    float* dn = a.dn.reserve(R * d, "gradients");
    linear_backward(dgate, a.n2.get(), xa(Proj::kGate), R, W(Proj::kGate), lora_ref(l, Proj::kGate, true), dn, false, a.lin);
    linear_backward(dup, a.n2.get(), xa(Proj::kUp), R, W(Proj::kUp), lora_ref(l, Proj::kUp, true), dn, true, a.lin);
    float* dnorm = a.dnorm.reserve(R * d, "gradients");
    rmsnorm_backward(dn, a.h.get(), w.ffn_norm.get(), a.rstd2.get(), R, d, dnorm);
    add_inplace(dh, dnorm, R * d);

    // Attention half: h = x + o(attention(rope(q(n1)), rope(k(n1)), v(n1))).
    float* datt = a.datt.reserve(R * qd, "gradients");
    linear_backward(dh, a.att.get(), xa(Proj::kO), R, W(Proj::kO), lora_ref(l, Proj::kO, true), datt, false, a.lin);
    float* dq = a.dq.reserve(R * qd, "gradients");
    float* dk = a.dk.reserve(R * kvd, "gradients");
    float* dv = a.dv.reserve(R * kvd, "gradients");
    attention_backward(datt, a.q.get(), a.k.get(), a.v.get(), a.att.get(), a.stats.get(), AttnShape{R, c_.heads, c_.kv_heads, c_.head_dim}, dq,
                       dk, dv, a.row_dot.reserve(c_.heads * R, "attention scratch"), g.tree());
    rope_backward(dq, R, c_.heads, c_.head_dim, rope_cos_.get(), rope_sin_.get(), rope_half_, c_.rope, g.positions.get());
    rope_backward(dk, R, c_.kv_heads, c_.head_dim, rope_cos_.get(), rope_sin_.get(), rope_half_, c_.rope, g.positions.get());
    linear_backward(dq, a.n1.get(), xa(Proj::kQ), R, W(Proj::kQ), lora_ref(l, Proj::kQ, true), dn, false, a.lin);
    linear_backward(dk, a.n1.get(), xa(Proj::kK), R, W(Proj::kK), lora_ref(l, Proj::kK, true), dn, true, a.lin);
    linear_backward(dv, a.n1.get(), xa(Proj::kV), R, W(Proj::kV), lora_ref(l, Proj::kV, true), dn, true, a.lin);
    rmsnorm_backward(dn, x, w.attn_norm.get(), a.rstd1.get(), R, d, dx);
    add_inplace(dx, dh, R * d);
  }

  // Forward of the uploaded rows into hn_ [rows, d] (and rstd_ [rows]); with `checkpoints`, each
  // layer's input stays in inputs_[l] (inputs_[L] is the final residual) for the backward.
  void forward(const DeviceRows& g, bool checkpoints) {
    const int64_t R = g.rows, d = c_.d, L = c_.layers;
    if (checkpoints && int64_t(inputs_.size()) < L + 1) inputs_.resize(size_t(L + 1));
    float* bufs[2] = {x_.reserve(R * d, "the residual stream"), next_.reserve(R * d, "the residual stream")};
    float* cur = checkpoints ? inputs_[0].reserve(R * d, "checkpoints") : bufs[0];
    embedding_forward(embd_.ptr(), embd_.type, d, g.tokens.get(), R, cur);
    for (int64_t l = 0; l < L; l++) {
      float* out = checkpoints ? inputs_[size_t(l + 1)].reserve(R * d, "checkpoints") : bufs[(l + 1) % 2];
      layer_forward(l, cur, g, out, acts_);
      cur = out;
    }
    rmsnorm_forward(cur, out_norm_.get(), R, d, c_.rms_eps, hn_.reserve(R * d, "final hidden states"), rstd_.reserve(R, "final norm"));
  }

  // Allocates what backward_group uses for groups of up to `rows` rows and `pred` output rows.
  void reserve_backward(int64_t rows, int64_t pred) {
    const int64_t d = c_.d, qd = c_.heads * c_.head_dim, kvd = c_.kv_heads * c_.head_dim, F = c_.ff, L = c_.layers, H = c_.heads;
    const int64_t r = std::max<int64_t>(1, host_.lora().rank), wide = std::max({d, qd, F});
    Acts& a = acts_;
    for (Buffer<float>* b : {&a.n1, &a.h, &a.n2, &a.dh, &a.dn, &a.dnorm}) b->reserve(rows * d, "activations");
    for (Buffer<float>* b : {&a.q, &a.att, &a.datt, &a.dq}) b->reserve(rows * qd, "activations");
    for (Buffer<float>* b : {&a.k, &a.v, &a.dk, &a.dv}) b->reserve(rows * kvd, "activations");
    for (Buffer<float>* b : {&a.gate, &a.up, &a.act, &a.dact, &a.dgate, &a.dup}) b->reserve(rows * F, "activations");
    for (Buffer<float>* b : {&a.rstd1, &a.rstd2}) b->reserve(rows, "activations");
    a.stats.reserve(2 * H * rows, "attention statistics");
    a.row_dot.reserve(H * rows, "attention scratch");
    for (int p = 0; p < kProjCount; p++) a.xa[size_t(p)].reserve(rows * r, "LoRA products");
    a.lin.rounded.reserve(rows * wide, "rounded matmul inputs");
    a.lin.half.reserve(rows * wide, "F16/BF16 matmul inputs");
    a.lin.product.reserve(rows * wide, "gradient product");
    a.lin.inv_scale.reserve(rows, "gradient scales");
    a.lin.dyB.reserve(rows * r, "LoRA gradient scratch");
    if (int64_t(inputs_.size()) < L + 1) inputs_.resize(size_t(L + 1));
    for (Buffer<float>& b : inputs_) b.reserve(rows * d, "checkpoints");
    for (Buffer<float>* b : {&x_, &next_, &hn_, &dx_, &dprev_}) b->reserve(rows * d, "the residual stream");
    rstd_.reserve(rows, "final norm");
    for (Buffer<int32_t>* b : {&rows_.tokens, &rows_.positions, &rows_.segment}) b->reserve(rows, "the group's rows");
    pred_hidden_.reserve(pred * d, "predictor rows");
    pred_grad_.reserve(pred * d, "predictor rows' gradients");
    pred_logp_.reserve(pred, "log-probs");
    const int64_t tile = loss_tile_rows(pred, c_.vocab, head().type, 0);
    loss_.tile.reserve(tile * c_.vocab, "the loss kernel's logits tile");
    if (head().type != DType::kF32) {
      loss_.dtile.reserve(tile * c_.vocab, "the loss kernel's dlogits tile");
      loss_.row_scale.reserve(tile, "dlogits scales");
      loss_.product.reserve(tile * d, "dHidden tile");
    }
    loss_.tokens.reserve(pred * 16, "per-token results");
    loss_.input.rounded.reserve(tile * d, "rounded head inputs");
    loss_.input.half.reserve(tile * d, "F16/BF16 head inputs");
  }

  void backward_group(const GroupLayout& layout, const std::vector<SequenceItem>& batch, const GrpoLossConfig& cfg, BackwardResult& result) {
    const int64_t d = c_.d, L = c_.layers;
    const DeviceRows& g = upload_rows(layout);
    const int64_t R = g.rows;
    forward(g, true);

    // The output layer and the loss over every response's predictor rows at once (one sequence each).
    const PredictorRows p = predictor_rows(layout);
    const int64_t N = int64_t(p.row.size()), S = int64_t(layout.responses.size());
    std::vector<float> adv, weight, old_lp, ref_lp;
    for (const GroupResponse& r : layout.responses) {
      const SequenceItem& s = batch[size_t(r.item)];
      adv.push_back(s.advantage);
      weight.push_back(s.weight);
      old_lp.insert(old_lp.end(), s.old_logp, s.old_logp + r.length);
      ref_lp.insert(ref_lp.end(), s.ref_logp, s.ref_logp + r.length);
    }
    Buffer<int32_t> rows = upload_vector(p.row, "predictor rows"), targets = upload_vector(p.target, "targets"),
                    seq = upload_vector(p.seq, "sequence index");
    Buffer<float> dadv = upload_vector(adv, "advantages"), dweight = upload_vector(weight, "weights"), dold = upload_vector(old_lp, "oldLogp"),
                  dref = upload_vector(ref_lp, "refLogp");
    float* hidden = pred_hidden_.reserve(N * d, "predictor rows");
    embedding_forward(hn_.get(), DType::kF32, d, rows.get(), N, hidden);  // a row gather
    const DeviceLossInputs in{hidden, targets.get(), seq.get(), dadv.get(), dweight.get(), dold.get(), dref.get(), N, S};
    float* dpred = pred_grad_.reserve(N * d, "predictor rows' gradients");
    const GrpoLossSums sums = grpo_loss_device(in, head(), cfg, pred_logp_.reserve(N, "log-probs"), dpred, loss_);
    if (!std::isfinite(sums.loss)) throw Error("backward: the loss is not finite (the forward overflowed on the device)");
    result.add(sums);

    // dhn: each predictor row's gradient added to its row (row P - 1 receives every response's), in
    // row order per column; then the final norm and the layers in reverse.
    float* dhn = hn_.get();  // hn is no longer read
    fill_zero(dhn, R * d * 4);
    embedding_backward(dpred, rows.get(), N, d, dhn);
    float* dx = dx_.reserve(R * d, "the residual stream's gradient");
    float* dprev = dprev_.reserve(R * d, "the residual stream's gradient");
    rmsnorm_backward(dhn, inputs_[size_t(L)].get(), out_norm_.get(), rstd_.get(), R, d, dx);
    for (int64_t l = L - 1; l >= 0; l--) {
      layer_backward(l, inputs_[size_t(l)].get(), dx, g, dprev, acts_);
      std::swap(dx, dprev);
    }
    synchronize("backward");
  }

  Engine& host_;
  const ModelConfig& c_;
  Precision precision_;
  DeviceWeight embd_, head_own_;
  Buffer<float> out_norm_;
  std::vector<DeviceLayer> layers_;
  int64_t weight_bytes_ = 0;
  Buffer<float> rope_cos_, rope_sin_;
  int64_t rope_rows_ = 0, rope_half_ = 0;
  std::vector<DeviceLoraTensor> lora_;
  bool device_ahead_ = false;  // the device's adapter has changes the host copy lacks
  bool host_ahead_ = false;    // ... and the other way round
  DeviceRows rows_;
  Acts acts_;
  std::vector<Buffer<float>> inputs_;
  Buffer<float> x_, next_, hn_, rstd_, dx_, dprev_, pred_hidden_, pred_grad_, pred_logp_;
  LossScratch loss_;
};

}  // namespace

}  // namespace spogw::gpu

namespace spogw {

std::unique_ptr<DeviceEngine> make_cuda_engine(Engine& host, const DeviceEngineOptions& options) {
  return std::make_unique<gpu::CudaEngine>(host, options);
}

}  // namespace spogw
