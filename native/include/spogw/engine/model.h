// The decoder-only transformer the trainer runs: configuration, weights (dequantised to float32,
// row-major [n_out, n_in] like PyTorch's Linear), and the per-architecture differences.
//
// Notation used throughout the engine: T tokens, d = hidden size, H query heads, KV key/value heads,
// hd = head size (d / H), F = feed-forward size, V = vocabulary, r = LoRA rank.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "spogw/aligned_vector.h"
#include "spogw/engine/ggml_quants.h"

namespace spogw {

class GgufReader;

// What differs between architectures. Adding one is a new entry in arch_specs() (model.cc) when its
// layer is the same pre-norm attention + SwiGLU block; anything else is a new code path.
enum class RopeMode { kNorm, kNeox };  // kNorm: rotate pairs (2i, 2i+1); kNeox: pairs (i, i + n_rot/2)
struct ArchSpec {
  const char* name;
  RopeMode rope;
  bool qkv_bias;  // q/k/v projections may carry biases (qwen2)
};
const ArchSpec* find_arch(const std::string& name);
std::string supported_archs();

struct ModelConfig {
  std::string arch;
  int64_t vocab = 0, d = 0, layers = 0, heads = 0, kv_heads = 0, ff = 0, head_dim = 0, context = 0;
  int64_t n_rot = 0;  // rotary dimensions per head (= head_dim for the supported archs)
  float rope_theta = 10000.0f;
  float rms_eps = 1e-5f;
  bool tied = false;  // the output projection is token_embd
  RopeMode rope = RopeMode::kNorm;
};

// The seven projections LoRA can adapt, in GGUF naming.
enum class Proj { kQ = 0, kK, kV, kO, kGate, kUp, kDown };
constexpr int kProjCount = 7;
const char* proj_name(Proj p);  // "attn_q", ... "ffn_down"
bool proj_from_name(const std::string& name, Proj* out);

// llama.cpp converts a matmul's activations to the weight's "vec dot" type before the dot products
// (F16 weights: activations rounded to F16; BF16: to BF16; Q8_0, Q4_0, Q5_0: quantised to Q8_0
// blocks; Q4_1, Q5_1: Q8_1 blocks, whose values are Q8_0's; K-quants: Q8_K super-blocks). The engine
// rounds its matmul inputs the same way in the forward pass so that its logits agree with
// llama.cpp's, and treats the rounding as the identity in the backward pass (straight-through).
enum class InputRounding { kNone, kF16, kBF16, kQ8_0, kQ8_K };
InputRounding input_rounding_for(uint32_t ggml_type);
// Rounds n values (rows of `row` values each, for Q8_0 blocks) as llama.cpp does; out may equal x.
void round_inputs(const float* x, int64_t rows, int64_t row, InputRounding mode, float* out);

// A frozen [n_out, n_in] weight: its float values (what the backward's products use) and what the
// forward needs to repeat llama.cpp's dot products: the storage type's input rounding and, for Q8_0,
// the quantised blocks themselves. The block-quantized types (ggml_quants.h) keep only their blocks:
// `values` stays empty and rows are dequantised when a product needs them as floats.
struct FrozenWeight {
  AlignedFloats values;  // cache-line aligned for the forward's vector loads; empty for block types
  InputRounding rounding = InputRounding::kNone;
  std::vector<int8_t> q8;        // Q8_0 only: quantised values [n_out * n_in]
  std::vector<float> q8_scale;   // Q8_0 only: one scale (an F16 value) per 32 values
  ggml::QuantMatrix quant;       // Q4_0 .. Q6_K only: the GGUF blocks
  uint32_t type = 0;             // the GGUF tensor's ggml type
  int64_t rows = 0, cols = 0;    // n_out, n_in
  const float* data() const { return values.data(); }  // null for block types
  bool empty() const { return rows == 0; }
  // Rows [r0, r1) as float32 into out [r1 - r0, cols].
  void dequantize_rows(int64_t r0, int64_t r1, float* out) const;
  // Bytes held for the weight (what `bench engine` reports as resident weight memory).
  int64_t resident_bytes() const;
};

struct LayerWeights {
  std::vector<float> attn_norm;                  // [d]
  std::array<FrozenWeight, kProjCount> w;        // [n_out, n_in] per projection
  std::vector<float> bq, bk, bv;                 // [H*hd], [KV*hd], [KV*hd]; empty without biases
  std::vector<float> ffn_norm;                   // [d]
};

struct ModelWeights {
  FrozenWeight token_embd;         // [V, d]
  std::vector<float> output_norm;  // [d]
  FrozenWeight output;             // [V, d]; empty when tied
  std::vector<LayerWeights> layers;
  const FrozenWeight& lm_head() const { return output.empty() ? token_embd : output; }
};

// Input and output width of a projection.
int64_t proj_in(const ModelConfig& c, Proj p);
int64_t proj_out(const ModelConfig& c, Proj p);

struct Model {
  ModelConfig config;
  ModelWeights weights;
};

// Loads and checks a llama/qwen2 GGUF: metadata, every tensor's presence, shape and type.
std::unique_ptr<Model> load_model(const std::string& path);

// One tensor as the engine holds it: its stored type, the kernel its products take ("repack" or
// "vec_dot" for the block types as llama.cpp chooses, "q8_0", "float"; "get_rows" for an untied
// token_embd, "vector" for norms and biases) and the bytes held. What `bench engine` reports and the parity tests check llama.cpp against.
struct WeightInfo {
  std::string name;
  uint32_t type = 0;
  std::string kernel;
  int64_t bytes = 0;
};
std::vector<WeightInfo> weight_infos(const Model& model);

}  // namespace spogw
