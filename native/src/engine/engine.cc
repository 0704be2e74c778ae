#include "spogw/engine/engine.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "spogw/engine/device_engine.h"
#include "spogw/engine/ggml_numerics.h"
#include "spogw/error.h"
#include "spogw/finite.h"
#include "spogw/gemm.h"

namespace spogw {

// Activations of one layer, saved by layer_forward for layer_backward, plus the backward's scratch.
struct Engine::LayerActs {
  std::vector<float> n1, rstd1, q, k, v, att, h, n2, rstd2, gate, up, act;
  std::array<std::vector<float>, kProjCount> xa;  // x A^T per projection with LoRA
  TreeAttnScratch attn_scratch;  // aligned: the forward's transposed value cache feeds the SIMD tiles directly
  std::vector<float> lora_tmp, round_scratch;
  // backward buffers
  std::vector<float> dh, dact, dgate, dup, dn, datt, dq, dk, dv;
};

namespace {

// splitmix64: a small, well-mixed deterministic generator for LoRA initialisation.
struct SplitMix64 {
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  float uniform(float lo, float hi) { return lo + (hi - lo) * float(double(next() >> 11) / double(1ull << 53)); }
};

}  // namespace

std::string LoraTensor::base_name() const { return "blk." + std::to_string(layer) + "." + proj_name(proj) + ".weight"; }

std::unique_ptr<Engine> load_engine(const std::string& path) { return std::make_unique<Engine>(load_model(path)); }

Engine::Engine(std::unique_ptr<Model> model) : model_(std::move(model)), acts_(std::make_unique<LayerActs>()) {
  lora_.index.assign(size_t(config().layers), std::vector<int>(kProjCount, -1));
}

Engine::~Engine() = default;

void Engine::attach_device(std::unique_ptr<DeviceEngine> device) { device_ = std::move(device); }

// Each public call checks its tokens once, here; forward() and the kernels below it trust them.
void Engine::check_tokens(const std::string& fn, const int32_t* tokens, int64_t T) const {
  if (T <= 0) throw Error(fn + ": the token sequence is empty");
  for (int64_t i = 0; i < T; i++)
    if (tokens[i] < 0 || tokens[i] >= config().vocab)
      throw Error(fn + ": token " + std::to_string(tokens[i]) + " at position " + std::to_string(i) + " is outside the vocabulary [0, " +
                  std::to_string(config().vocab) + ")");
}

namespace {

void check_response_start(const std::string& where, int64_t response_start, int64_t T) {
  if (response_start < 1 || response_start >= T)
    throw Error(where + ": responseStart " + std::to_string(response_start) + " must be in [1, " + std::to_string(T) + ")");
}

}  // namespace

std::vector<GroupItem> Engine::plan_logprob_items(const std::vector<LogprobItem>& items, float temperature) const {
  check_temperature("tokenLogprobsBatch", temperature);
  if (items.empty()) throw Error("tokenLogprobsBatch: no items");
  std::vector<GroupItem> plan;
  for (size_t i = 0; i < items.size(); i++) {
    const LogprobItem& it = items[i];
    const std::string where = "tokenLogprobsBatch: item " + std::to_string(i);
    check_response_start(where, it.response_start, it.T);
    check_tokens(where, it.tokens, it.T);
    plan.push_back({it.tokens, it.T, it.response_start});
  }
  return plan;
}

// The settings and the whole batch, before any work: everything the loss kernel's unchecked entry
// relies on (its targets are the tokens checked here).
std::vector<GroupItem> Engine::plan_backward_batch(const std::vector<SequenceItem>& batch, const GrpoLossConfig& cfg) const {
  check_loss_config("backward", cfg);
  if (batch.empty()) throw Error("backward: the batch is empty");
  std::vector<GroupItem> plan;
  for (size_t b = 0; b < batch.size(); b++) {
    const SequenceItem& s = batch[b];
    const std::string where = "backward: batch item " + std::to_string(b);
    if (s.T < 2) throw Error(where + ": needs at least 2 tokens");
    check_response_start(where, s.response_start, s.T);
    check_tokens(where, s.tokens, s.T);
    if (!std::isfinite(s.advantage) || !std::isfinite(s.weight)) throw Error(where + ": advantage and weight must be finite");
    require_finite(where, "oldLogp", s.old_logp, s.T - s.response_start);
    require_finite(where, "refLogp", s.ref_logp, s.T - s.response_start);
    plan.push_back({s.tokens, s.T, s.response_start});
  }
  return plan;
}

// ---- LoRA state ------------------------------------------------------------------------------------

void Engine::clear_lora() {
  lora_ = LoraState();
  lora_.index.assign(size_t(config().layers), std::vector<int>(kProjCount, -1));
}

void Engine::init_lora(int64_t rank, float alpha, const std::vector<std::string>& base_names, bool random_b, uint64_t seed) {
  const ModelConfig& c = config();
  if (rank < 1 || rank > 4096) throw Error("LoRA rank must be in [1, 4096], got " + std::to_string(rank));
  if (!std::isfinite(alpha) || alpha <= 0) throw Error("LoRA alpha must be a positive number");
  if (base_names.empty()) throw Error("LoRA needs at least one target tensor");
  LoraState next;
  next.rank = rank;
  next.alpha = alpha;
  next.index.assign(size_t(c.layers), std::vector<int>(kProjCount, -1));
  SplitMix64 rng{seed};
  for (const std::string& name : base_names) {
    // "blk.<layer>.<proj>.weight"
    int64_t layer = -1;
    char proj[64] = {0};
    int consumed = 0;
    if (std::sscanf(name.c_str(), "blk.%ld.%63[a-z_].weight%n", &layer, proj, &consumed) != 2 || size_t(consumed) != name.size())
      throw Error("LoRA target '" + name + "' is not of the form blk.<layer>.<projection>.weight");
    Proj p;
    if (!proj_from_name(proj, &p)) throw Error("LoRA target '" + name + "': '" + proj + "' is not one of attn_q, attn_k, attn_v, attn_output, ffn_gate, ffn_up, ffn_down");
    if (layer < 0 || layer >= c.layers) throw Error("LoRA target '" + name + "': the model has " + std::to_string(c.layers) + " layers");
    if (next.index[size_t(layer)][int(p)] >= 0) throw Error("LoRA target '" + name + "' is listed twice");
    LoraTensor t;
    t.layer = layer;
    t.proj = p;
    t.n_in = proj_in(c, p);
    t.n_out = proj_out(c, p);
    t.A.resize(size_t(checked_mul(rank, t.n_in, "LoRA A")));
    t.B.assign(size_t(checked_mul(t.n_out, rank, "LoRA B")), 0.0f);
    // A ~ U(-1/sqrt(n_in), 1/sqrt(n_in)) as PEFT's default (Kaiming-uniform with a = sqrt(5)).
    const float bound = 1.0f / std::sqrt(float(t.n_in));
    for (float& a : t.A) a = rng.uniform(-bound, bound);
    if (random_b) {
      const float bb = 1.0f / std::sqrt(float(rank));
      for (float& b : t.B) b = rng.uniform(-bb, bb);
    }
    for (auto* v : {&t.gA, &t.mA, &t.vA}) v->assign(t.A.size(), 0.0f);
    for (auto* v : {&t.gB, &t.mB, &t.vB}) v->assign(t.B.size(), 0.0f);
    next.index[size_t(layer)][int(p)] = int(next.tensors.size());
    next.tensors.push_back(std::move(t));
  }
  lora_ = std::move(next);
}

LoraTensor& Engine::lora_tensor(const std::string& base_name) {
  for (LoraTensor& t : lora_.tensors)
    if (t.base_name() == base_name) return t;
  throw Error("no LoRA tensor for " + base_name + (lora_.tensors.empty() ? " (no adapter is initialised)" : ""));
}

LoraRef Engine::lora_ref(int64_t layer, Proj p, bool with_grad) {
  LoraRef ref;
  const int i = lora_.index[size_t(layer)][int(p)];
  if (i < 0) return ref;
  LoraTensor& t = lora_.tensors[size_t(i)];
  ref.A = t.A.data();
  ref.B = t.B.data();
  ref.r = lora_.rank;
  ref.scale = lora_.scale();
  if (with_grad) {
    ref.gA = t.gA.data();
    ref.gB = t.gB.data();
  }
  return ref;
}

// ---- forward ---------------------------------------------------------------------------------------

void Engine::layer_forward(int64_t l, const float* x, const GroupLayout& g, float* out, LayerActs& a) {
  const ModelConfig& c = config();
  const int64_t T = g.rows();
  const LayerWeights& w = model_->weights.layers[size_t(l)];
  const int64_t d = c.d, qd = c.heads * c.head_dim, kvd = c.kv_heads * c.head_dim, F = c.ff;
  const auto sized = [](std::vector<float>& v, int64_t n) { v.resize(size_t(n)); return v.data(); };
  const auto xa = [&](Proj p) { return lora_.index[size_t(l)][int(p)] >= 0 ? sized(a.xa[int(p)], T * lora_.rank) : nullptr; };
  const auto W = [&](Proj p) -> const FrozenWeight& { return w.w[int(p)]; };
  const auto bias = [](const std::vector<float>& b) { return b.empty() ? nullptr : b.data(); };

  rmsnorm_forward(x, w.attn_norm.data(), T, d, c.rms_eps, sized(a.n1, T * d), sized(a.rstd1, T));
  linear_forward(a.n1.data(), T, d, qd, W(Proj::kQ), bias(w.bq), lora_ref(l, Proj::kQ, false), sized(a.q, T * qd), xa(Proj::kQ), a.round_scratch);
  linear_forward(a.n1.data(), T, d, kvd, W(Proj::kK), bias(w.bk), lora_ref(l, Proj::kK, false), sized(a.k, T * kvd), xa(Proj::kK), a.round_scratch);
  linear_forward(a.n1.data(), T, d, kvd, W(Proj::kV), bias(w.bv), lora_ref(l, Proj::kV, false), sized(a.v, T * kvd), xa(Proj::kV), a.round_scratch);
  rope_forward(a.q.data(), T, c.heads, c.head_dim, rope_, c.rope, g.positions.data());
  rope_forward(a.k.data(), T, c.kv_heads, c.head_dim, rope_, c.rope, g.positions.data());
  tree_attention_forward(a.q.data(), a.k.data(), a.v.data(), g, {c.heads, c.kv_heads, c.head_dim}, sized(a.att, T * qd), a.attn_scratch);
  float* h = sized(a.h, T * d);
  linear_forward(a.att.data(), T, qd, d, W(Proj::kO), nullptr, lora_ref(l, Proj::kO, false), h, xa(Proj::kO), a.round_scratch);
  for (int64_t i = 0; i < T * d; i++) h[i] += x[i];
  rmsnorm_forward(h, w.ffn_norm.data(), T, d, c.rms_eps, sized(a.n2, T * d), sized(a.rstd2, T));
  linear_forward(a.n2.data(), T, d, F, W(Proj::kGate), nullptr, lora_ref(l, Proj::kGate, false), sized(a.gate, T * F), xa(Proj::kGate), a.round_scratch);
  linear_forward(a.n2.data(), T, d, F, W(Proj::kUp), nullptr, lora_ref(l, Proj::kUp, false), sized(a.up, T * F), xa(Proj::kUp), a.round_scratch);
  swiglu_forward(a.gate.data(), a.up.data(), T, F, sized(a.act, T * F));
  if (out == nullptr) {
    // Recomputation for the backward: the layer's output is not needed, only what the backward reads,
    // which for the down projection is its LoRA input product x A^T.
    const LoraRef down = lora_ref(l, Proj::kDown, false);
    if (down.active()) ggml::mul_mat(down.A, down.r, F, a.act.data(), T, ggml::DotType::kF32, xa(Proj::kDown), down.r);
    return;
  }
  linear_forward(a.act.data(), T, F, d, W(Proj::kDown), nullptr, lora_ref(l, Proj::kDown, false), out, xa(Proj::kDown), a.round_scratch);
  for (int64_t i = 0; i < T * d; i++) out[i] += h[i];
}

void Engine::forward(const GroupLayout& g, std::vector<float>& hn, std::vector<float>* final_rstd,
                     std::vector<std::vector<float>>* layer_inputs) {
  const ModelConfig& c = config();
  const int64_t d = c.d, T = g.rows();
  rope_table(rope_, int64_t(max_position(g)) + 1, c.n_rot, c.rope_theta);
  std::vector<float> x(size_t(T * d)), next(size_t(T * d));
  const FrozenWeight& embd = model_->weights.token_embd;
  if (embd.data() != nullptr)
    embedding_forward(embd.data(), d, g.tokens.data(), T, x.data());
  else  // a quantized table: llama.cpp's GET_ROWS dequantises each token's row
    for (int64_t t = 0; t < T; t++) embd.dequantize_rows(g.tokens[size_t(t)], g.tokens[size_t(t)] + 1, &x[size_t(t * d)]);
  LayerActs& acts = *acts_;
  if (layer_inputs) layer_inputs->resize(size_t(c.layers + 1));
  for (int64_t l = 0; l < c.layers; l++) {
    if (layer_inputs) (*layer_inputs)[size_t(l)] = x;
    layer_forward(l, x.data(), g, next.data(), acts);
    std::swap(x, next);
  }
  if (layer_inputs) (*layer_inputs)[size_t(c.layers)] = x;
  std::vector<float> rstd(static_cast<size_t>(T));
  hn.resize(size_t(T * d));
  rmsnorm_forward(x.data(), model_->weights.output_norm.data(), T, d, c.rms_eps, hn.data(), rstd.data());
  // Weights or block scales near the float limits can overflow a product; say so rather than return
  // NaN probabilities or train on them.
  const int64_t bad = first_non_finite(hn.data(), T * d);
  if (bad >= 0)
    throw Error("the forward pass overflowed float32 at position " + std::to_string(bad / d) +
                ": the model's weights or block scales are too large (is the file corrupt?)");
  if (final_rstd) *final_rstd = std::move(rstd);
}

void Engine::logits(const int32_t* tokens, int64_t T, float* out) {
  check_tokens("logits", tokens, T);
  std::vector<float> hn, scratch;
  forward(single_sequence(tokens, T), hn, nullptr, nullptr);
  const ModelConfig& c = config();
  frozen_matmul(hn.data(), T, c.d, c.vocab, model_->weights.lm_head(), out, scratch);
}

// The fused output-layer kernels (log-probs, loss) take float32 products: the rows they read are
// rounded as llama.cpp rounds them for the output weight's type (straight-through in the backward;
// each row on its own, so the other rows can stay as they are), so that the products equal llama.cpp's
// up to float32 summation order. A Q4_1/Q5_1 head is the exception (its products use Q8_1's rounded
// block sums, not the rounded inputs): lm_head_rows gives the product itself, which rounds its own
// inputs. forward() has checked every row finite, so the kernels' unchecked entries are called.
void Engine::round_lm_head_inputs(float* x, int64_t rows, const LmHeadRows& lm_rows) const {
  if (lm_rows.logits) return;
  round_inputs(x, rows, config().d, model_->weights.lm_head().rounding, x);
}

void Engine::predictor_rows(const std::vector<float>& hn, const GroupLayout& g, const GroupResponse& r, const LmHeadRows& lm_rows,
                            std::vector<float>& out) const {
  const int64_t d = config().d;
  out.resize(size_t(r.length * d));
  std::memcpy(out.data(), hn.data() + (g.prompt_rows - 1) * d, size_t(d) * sizeof(float));
  std::memcpy(out.data() + d, hn.data() + r.row * d, size_t((r.length - 1) * d) * sizeof(float));
  round_lm_head_inputs(out.data(), r.length, lm_rows);
}

void Engine::token_logprobs(const int32_t* tokens, int64_t T, int64_t from, float temperature, float* out) {
  if (from < 1 || from >= T) throw Error("tokenLogprobs: from = " + std::to_string(from) + " must be in [1, " + std::to_string(T) + ") (token 0 has no context)");
  check_tokens("tokenLogprobs", tokens, T);
  check_temperature("tokenLogprobs", temperature);
  std::vector<float> hn;
  forward(single_sequence(tokens, T), hn, nullptr, nullptr);
  const LmHeadRows lm_rows = lm_head_rows();
  float* rows = hn.data() + (from - 1) * config().d;
  round_lm_head_inputs(rows, T - from, lm_rows);
  output_logprobs(rows, tokens + from, T - from, temperature, lm_rows, out);
}

void Engine::output_logprobs(const float* rows, const int32_t* targets, int64_t n, float temperature, const LmHeadRows& lm_rows,
                             float* out) const {
  const ModelConfig& c = config();
  const FrozenWeight& lm = model_->weights.lm_head();
  if (lm.data() != nullptr)
    selective_logprobs_unchecked(rows, lm.data(), targets, n, c.d, c.vocab, temperature, out);
  else
    selective_logprobs_unchecked(rows, lm_rows, targets, n, c.d, c.vocab, temperature, out);
}

// An output matrix held as blocks (Q8_0 and the block-quantized types) reaches the fused kernels as
// dequantised blocks of rows (about 8 MiB): BLAS products on the rounded inputs. For Q4_1/Q5_1 the
// logits come from llama.cpp's own product instead (see round_lm_head_inputs).
LmHeadRows Engine::lm_head_rows() const {
  const FrozenWeight& lm = model_->weights.lm_head();
  const ModelConfig& c = config();
  LmHeadRows rows;
  rows.fill = [&lm](int64_t r0, int64_t r1, float* out) { lm.dequantize_rows(r0, r1, out); };
  rows.block_rows = std::max<int64_t>(1, (int64_t(8) << 20) / int64_t(sizeof(float)) / c.d);
  if (lm.type == ggml::kQ4_1 || lm.type == ggml::kQ5_1)
    rows.logits = [&lm, &c](const float* hidden, int64_t n, float* Z) {
      std::vector<float> scratch;
      frozen_matmul(hidden, n, c.d, c.vocab, lm, Z, scratch);
    };
  return rows;
}

void Engine::token_logprobs_batch(const std::vector<LogprobItem>& items, float temperature) {
  const std::vector<GroupItem> plan = plan_logprob_items(items, temperature);
  const LmHeadRows lm_rows = lm_head_rows();
  // The output layer takes a group's responses in one call: each row's log-prob is the same bits
  // whatever rows share the call (lm_head_logits.h), so this equals tokenLogprobs, and the output
  // matrix is packed once per group instead of once per response. A head with its own product
  // (Q4_1/Q5_1, llama.cpp's) promises no such thing and keeps one call per response.
  const bool whole_group = !lm_rows.logits;
  const int64_t d = config().d;
  std::vector<float> hn, rows, group_rows, group_out;
  std::vector<int32_t> group_targets;
  for (const GroupLayout& g : plan_groups(plan)) {
    forward(g, hn, nullptr, nullptr);
    group_rows.clear();
    group_targets.clear();
    for (const GroupResponse& r : g.responses) {
      const LogprobItem& it = items[size_t(r.item)];
      predictor_rows(hn, g, r, lm_rows, rows);
      if (!whole_group) {
        output_logprobs(rows.data(), it.tokens + it.response_start, r.length, temperature, lm_rows, it.out);
        continue;
      }
      group_rows.insert(group_rows.end(), rows.begin(), rows.begin() + r.length * d);
      group_targets.insert(group_targets.end(), it.tokens + it.response_start, it.tokens + it.response_start + r.length);
    }
    if (!whole_group) continue;
    group_out.resize(group_targets.size());
    output_logprobs(group_rows.data(), group_targets.data(), int64_t(group_targets.size()), temperature, lm_rows, group_out.data());
    int64_t at = 0;
    for (const GroupResponse& r : g.responses) {
      std::memcpy(items[size_t(r.item)].out, group_out.data() + at, size_t(r.length) * sizeof(float));
      at += r.length;
    }
  }
}

// ---- backward --------------------------------------------------------------------------------------

void Engine::layer_backward(int64_t l, const float* x, const float* dout, const GroupLayout& g, float* dx, LayerActs& a) {
  const ModelConfig& c = config();
  const int64_t T = g.rows();
  const LayerWeights& w = model_->weights.layers[size_t(l)];
  const int64_t d = c.d, qd = c.heads * c.head_dim, kvd = c.kv_heads * c.head_dim, F = c.ff;
  const auto sized = [](std::vector<float>& v, int64_t n) { v.resize(size_t(n)); return v.data(); };
  const auto W = [&](Proj p) -> const FrozenWeight& { return w.w[int(p)]; };
  const auto xa = [&](Proj p) { return a.xa[int(p)].data(); };

  // Recompute this layer's activations from its saved input.
  layer_forward(l, x, g, nullptr, a);

  // FFN half: out = h + down(swiglu(gate(n2), up(n2))).
  float* dh = sized(a.dh, T * d);
  std::memcpy(dh, dout, size_t(T * d) * 4);
  linear_backward(dout, a.act.data(), xa(Proj::kDown), T, F, d, W(Proj::kDown), lora_ref(l, Proj::kDown, true), sized(a.dact, T * F), false, a.lora_tmp);
  swiglu_backward(a.dact.data(), a.gate.data(), a.up.data(), T * F, sized(a.dgate, T * F), sized(a.dup, T * F));
  float* dn = sized(a.dn, T * d);
  linear_backward(a.dgate.data(), a.n2.data(), xa(Proj::kGate), T, d, F, W(Proj::kGate), lora_ref(l, Proj::kGate, true), dn, false, a.lora_tmp);
  linear_backward(a.dup.data(), a.n2.data(), xa(Proj::kUp), T, d, F, W(Proj::kUp), lora_ref(l, Proj::kUp, true), dn, true, a.lora_tmp);
  std::vector<float>& dnorm = a.dact;  // reuse as [T, d] scratch
  dnorm.resize(size_t(T * d));
  rmsnorm_backward(dn, a.h.data(), w.ffn_norm.data(), a.rstd2.data(), T, d, dnorm.data());
  for (int64_t i = 0; i < T * d; i++) dh[i] += dnorm[i];

  // Attention half: h = x + o(attention(rope(q(n1)), rope(k(n1)), v(n1))).
  linear_backward(dh, a.att.data(), xa(Proj::kO), T, qd, d, W(Proj::kO), lora_ref(l, Proj::kO, true), sized(a.datt, T * qd), false, a.lora_tmp);
  tree_attention_backward(a.datt.data(), a.q.data(), a.k.data(), a.v.data(), g, {c.heads, c.kv_heads, c.head_dim}, sized(a.dq, T * qd),
                          sized(a.dk, T * kvd), sized(a.dv, T * kvd), a.attn_scratch);
  rope_backward(a.dq.data(), T, c.heads, c.head_dim, rope_, c.rope, g.positions.data());
  rope_backward(a.dk.data(), T, c.kv_heads, c.head_dim, rope_, c.rope, g.positions.data());
  linear_backward(a.dq.data(), a.n1.data(), xa(Proj::kQ), T, d, qd, W(Proj::kQ), lora_ref(l, Proj::kQ, true), dn, false, a.lora_tmp);
  linear_backward(a.dk.data(), a.n1.data(), xa(Proj::kK), T, d, kvd, W(Proj::kK), lora_ref(l, Proj::kK, true), dn, true, a.lora_tmp);
  linear_backward(a.dv.data(), a.n1.data(), xa(Proj::kV), T, d, kvd, W(Proj::kV), lora_ref(l, Proj::kV, true), dn, true, a.lora_tmp);
  rmsnorm_backward(dn, x, w.attn_norm.data(), a.rstd1.data(), T, d, dx);
  for (int64_t i = 0; i < T * d; i++) dx[i] += dh[i];
}

BackwardResult Engine::backward(const std::vector<SequenceItem>& batch, const GrpoLossConfig& cfg) {
  const ModelConfig& c = config();
  const int64_t d = c.d;
  const std::vector<GroupItem> plan = plan_backward_batch(batch, cfg);
  BackwardResult result;
  for (const GroupLayout& g : plan_groups(plan)) {
    const int64_t T = g.rows();
    std::vector<float> hn, rstd, rows, group_rows, logp, drows;
    std::vector<std::vector<float>> inputs;
    forward(g, hn, &rstd, &inputs);
    const LmHeadRows lm_rows = lm_head_rows();

    // Output layer + loss over the group's responses in one call, on their predictor rows
    // (predictor_rows), so that the output matrix is streamed once per tile of the group's rows rather
    // than once per response; the gradients go back to those rows, the prompt's last row gathering
    // every response's first.
    std::vector<int32_t> targets, seq_starts = {0};
    std::vector<float> advantages, weights, old_logp, ref_logp;
    for (const GroupResponse& r : g.responses) {
      const SequenceItem& s = batch[size_t(r.item)];
      predictor_rows(hn, g, r, lm_rows, rows);
      group_rows.insert(group_rows.end(), rows.begin(), rows.begin() + r.length * d);
      targets.insert(targets.end(), s.tokens + s.response_start, s.tokens + s.T);
      old_logp.insert(old_logp.end(), s.old_logp, s.old_logp + r.length);
      ref_logp.insert(ref_logp.end(), s.ref_logp, s.ref_logp + r.length);
      advantages.push_back(s.advantage);
      weights.push_back(s.weight);
      seq_starts.push_back(seq_starts.back() + int32_t(r.length));
    }
    const int64_t n = seq_starts.back();
    GrpoLossInputs in;
    in.hidden = group_rows.data();
    in.lm_head = model_->weights.lm_head().data();
    if (in.lm_head == nullptr) in.lm_head_rows = &lm_rows;
    in.targets = targets.data();
    in.seq_starts = seq_starts.data();
    in.advantages = advantages.data();
    in.seq_weights = weights.data();
    in.old_logp = old_logp.data();
    in.ref_logp = ref_logp.data();
    in.T = n;
    in.d = d;
    in.V = c.vocab;
    in.S = int64_t(g.responses.size());
    logp.resize(size_t(n));
    drows.assign(size_t(n * d), 0.0f);
    const GrpoLossSums sums = grpo_loss_fused_unchecked(in, cfg, GrpoLossOutputs{logp.data(), drows.data()});
    result.add(sums);
    std::vector<float> dhn(size_t(T * d), 0.0f);
    float* last_prompt = dhn.data() + (g.prompt_rows - 1) * d;
    for (size_t i = 0; i < g.responses.size(); i++) {
      const GroupResponse& r = g.responses[i];
      const float* dr = drows.data() + int64_t(seq_starts[i]) * d;
      for (int64_t k = 0; k < d; k++) last_prompt[k] += dr[k];
      std::memcpy(dhn.data() + r.row * d, dr + d, size_t((r.length - 1) * d) * sizeof(float));
    }

    // Through the final norm, then the layers in reverse.
    std::vector<float> dx(size_t(T * d)), dprev(size_t(T * d));
    rmsnorm_backward(dhn.data(), inputs[size_t(c.layers)].data(), model_->weights.output_norm.data(), rstd.data(), T, d, dx.data());
    LayerActs& acts = *acts_;
    for (int64_t l = c.layers - 1; l >= 0; l--) {
      layer_backward(l, inputs[size_t(l)].data(), dx.data(), g, dprev.data(), acts);
      std::swap(dx, dprev);
      inputs[size_t(l)].clear();
      inputs[size_t(l)].shrink_to_fit();
    }
  }
  return result;
}

void Engine::zero_grad() {
  for (LoraTensor& t : lora_.tensors) {
    std::fill(t.gA.begin(), t.gA.end(), 0.0f);
    std::fill(t.gB.begin(), t.gB.end(), 0.0f);
  }
}

double Engine::optimizer_step(const AdamWConfig& cfg) {
  if (lora_.tensors.empty()) throw Error("optimizerStep: no LoRA adapter is initialised");
  std::vector<AdamWTensor> tensors;
  for (LoraTensor& t : lora_.tensors) {
    tensors.push_back({t.A.data(), t.gA.data(), t.mA.data(), t.vA.data(), int64_t(t.A.size())});
    tensors.push_back({t.B.data(), t.gB.data(), t.mB.data(), t.vB.data(), int64_t(t.B.size())});
  }
  const double norm = adamw_step(tensors, lora_.step + 1, cfg);
  lora_.step++;
  return norm;
}

}  // namespace spogw
