// The training engine: a loaded model, LoRA adapters on chosen projections, a full forward pass, the
// backward pass of the ioGRPO-mKL loss into the LoRA parameters (base weights frozen), and AdamW.
//
// Items that share a prompt are computed as one packed group (group_layout.h): the prompt's rows once,
// every response's rows beside them, each weight streamed once per group; attention is the tree of
// ops.h's tree_attention_*. Every item's forward values equal, bit for bit, its own computation as a
// plain sequence; the prompt's gradient is the sum of every response's, taken through the prompt once.
//
// Memory stays bounded for long groups: the backward keeps only each layer's input [rows, d], then
// recomputes one layer's activations at a time (activation checkpointing); attention probabilities
// are recomputed per head and per response ([n_k, P + n_k], never [rows, rows]); the output layer and
// loss go through the tiled fused kernel, one response at a time, so no [rows, V] logits exist.
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "spogw/engine/adamw.h"
#include "spogw/engine/group_layout.h"
#include "spogw/engine/model.h"
#include "spogw/engine/ops.h"
#include "spogw/grpo_loss.h"

namespace spogw {

class DeviceEngine;  // device_engine.h

struct LoraTensor {
  int64_t layer = 0;
  Proj proj = Proj::kQ;
  int64_t n_in = 0, n_out = 0;
  std::vector<float> A, B;      // [r, n_in], [n_out, r]
  std::vector<float> gA, gB;    // accumulated gradients, same shapes
  std::vector<float> mA, vA, mB, vB;  // AdamW moments
  std::string base_name() const;  // "blk.3.attn_q.weight"
};

struct LoraState {
  int64_t rank = 0;
  float alpha = 0.0f;
  int64_t step = 0;  // AdamW steps taken
  std::vector<LoraTensor> tensors;
  std::vector<std::vector<int>> index;  // [layer][proj] -> position in tensors, or -1
  float scale() const { return rank > 0 ? alpha / float(rank) : 0.0f; }
};

// One response in a backward batch: tokens [T] (prompt then response); the response starts at
// response_start (>= 1) and old_logp/ref_logp cover its T - response_start tokens.
struct SequenceItem {
  const int32_t* tokens = nullptr;
  int64_t T = 0;
  int64_t response_start = 0;
  float advantage = 0.0f;
  float weight = 0.0f;
  const float* old_logp = nullptr;
  const float* ref_logp = nullptr;
};

// One item of a batched log-prob call: tokens [T], its response from response_start (in [1, T));
// out receives the T - response_start response log-probs.
struct LogprobItem {
  const int32_t* tokens = nullptr;
  int64_t T = 0;
  int64_t response_start = 0;
  float* out = nullptr;
};

struct BackwardResult {
  double loss = 0.0;
  GrpoLossSums sums;  // summed over the batch
  void add(const GrpoLossSums& group) {
    loss += group.loss;
    sums += group;
  }
};

class Engine {
 public:
  explicit Engine(std::unique_ptr<Model> model);
  ~Engine();
  const ModelConfig& config() const { return model_->config; }
  const Model& model() const { return *model_; }
  const LoraState& lora() const { return lora_; }
  std::vector<WeightInfo> weight_infos() const { return spogw::weight_infos(*model_); }
  // The adapter itself, for a device engine that keeps its own copy and brings it back.
  LoraState& lora_state() { return lora_; }

  // The device the addon runs this engine's calls on (device_engine.h); null: this CPU engine. Set
  // once, after loading; it refers to this engine's model and adapter, so the engine owns it.
  void attach_device(std::unique_ptr<DeviceEngine> device);
  DeviceEngine* device() const { return device_.get(); }

  // Every public call takes this lock: one operation at a time per engine.
  std::mutex& mutex() { return mu_; }

  // logits [T, V] with the current adapter.
  void logits(const int32_t* tokens, int64_t T, float* out);
  // log p(tokens[i] | tokens[<i]) at the temperature for i in [from, T); out has T - from values.
  void token_logprobs(const int32_t* tokens, int64_t T, int64_t from, float temperature, float* out);
  // token_logprobs of every item (from = response_start), each distinct prompt computed once: the
  // values equal token_logprobs's bit for bit where the forward reproduces llama.cpp (ggml_numerics.h).
  // All items are checked before any work.
  void token_logprobs_batch(const std::vector<LogprobItem>& items, float temperature);

  // Replaces the adapter: rank r, alpha, on the named base tensors (e.g. "blk.0.attn_q.weight").
  // random_b = false is the standard LoRA start (A random, B = 0: the model equals the base);
  // true makes B random too, so the adapter changes the model (tests, parity checks).
  void init_lora(int64_t rank, float alpha, const std::vector<std::string>& base_names, bool random_b, uint64_t seed);
  void clear_lora();
  LoraTensor& lora_tensor(const std::string& base_name);

  // Accumulates LoRA gradients of the loss over the batch; returns the summed loss and statistics.
  // Items with identical prompts are computed as one group (group_layout.h), whatever their order.
  // The settings and the whole batch are checked once, before any work; the output layer runs the
  // loss kernel's unchecked entry (its weights were checked at load).
  BackwardResult backward(const std::vector<SequenceItem>& batch, const GrpoLossConfig& cfg);

  // The input checks of the calls above, shared with the device engine (src/cuda/engine.cc): each
  // throws spogw::Error naming the call, the item and what is wrong. The plan functions check every
  // item (and the settings) and return the items as plan_groups takes them.
  void check_tokens(const std::string& fn, const int32_t* tokens, int64_t T) const;
  std::vector<GroupItem> plan_logprob_items(const std::vector<LogprobItem>& items, float temperature) const;
  std::vector<GroupItem> plan_backward_batch(const std::vector<SequenceItem>& batch, const GrpoLossConfig& cfg) const;

  // Clips by the global gradient norm, applies AdamW (spogw/engine/adamw.h), zeroes the gradients;
  // returns the norm before clipping.
  double optimizer_step(const AdamWConfig& cfg);
  void zero_grad();

 private:
  struct LayerActs;
  LoraRef lora_ref(int64_t layer, Proj p, bool with_grad);
  // Forward of a packed group (or single_sequence) from embeddings to the final normalised hidden
  // states hn [rows, d], for tokens the caller has checked. When `layer_inputs` is given it receives
  // each layer's input (L + 1 buffers of [rows, d], the last is the final residual).
  void forward(const GroupLayout& g, std::vector<float>& hn, std::vector<float>* final_rstd,
               std::vector<std::vector<float>>* layer_inputs);
  // Rounds `rows` output-layer inputs [rows, d] in place as llama.cpp does (unless lm_rows computes the
  // quantized product itself); the output matrix as the fused kernels take it when it has no float32 rows.
  void round_lm_head_inputs(float* x, int64_t rows, const LmHeadRows& lm_rows) const;
  LmHeadRows lm_head_rows() const;
  // Log-probs of `targets` from n prepared output-layer input rows, through the float32 or block-wise head.
  void output_logprobs(const float* rows, const int32_t* targets, int64_t n, float temperature, const LmHeadRows& lm_rows,
                       float* out) const;
  // Response r's predictor rows of hn (row P - 1, then rows R_k .. R_k + n_k - 2) into out [n_k, d],
  // prepared for the output layer: its item's rows [response_start - 1, T - 1) computed alone.
  void predictor_rows(const std::vector<float>& hn, const GroupLayout& g, const GroupResponse& r, const LmHeadRows& lm_rows,
                      std::vector<float>& out) const;
  // out = nullptr: recompute only the activations the backward reads (skips the down projection).
  void layer_forward(int64_t l, const float* x, const GroupLayout& g, float* out, LayerActs& acts);
  void layer_backward(int64_t l, const float* x, const float* dout, const GroupLayout& g, float* dx, LayerActs& acts);

  std::unique_ptr<Model> model_;
  LoraState lora_;
  RopeTable rope_;
  // One layer's activations, reused by every layer of every call (calls are serialised by mu_): a
  // shared-prompt group's [rows x ff] buffers (51 MB at 2600 rows) are above glibc's largest mmap
  // threshold, so buffers made per call were fresh pages each time; reusing them cut the page faults of
  // a group-of-8 backward (docs/benchmarks.md). They stay allocated between calls.
  std::unique_ptr<LayerActs> acts_;
  std::mutex mu_;
  std::unique_ptr<DeviceEngine> device_;  // last: destroyed first
};

std::unique_ptr<Engine> load_engine(const std::string& path);

}  // namespace spogw
