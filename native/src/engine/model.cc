#include "spogw/engine/model.h"

#include <cmath>
#include <cstring>

#include "spogw/engine/ggml_numerics.h"
#include "spogw/engine/gguf_reader.h"
#include "spogw/error.h"
#include "spogw/finite.h"
#include <algorithm>

namespace spogw {

namespace {

constexpr ArchSpec kArchs[] = {
    {"llama", RopeMode::kNorm, false},
    {"qwen2", RopeMode::kNeox, true},
};

const char* kProjNames[kProjCount] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};

// Reads tensor `name`, checks its ggml shape is [n_in, n_out] (i.e. row-major [n_out, n_in]) or [n]
// for vectors, dequantises it and checks every value is finite. That check is the only one the
// weights get: the engine's kernels trust them afterwards (the output layer is not rescanned per call).
template <class Floats>
uint32_t load_tensor(const GgufReader& g, const std::string& name, std::vector<int64_t> ne, Floats& out) {
  const GgufTensor* t = g.find(name);
  if (!t) throw Error(g.path() + ": tensor " + name + " is missing");
  if (t->ne != ne) {
    auto fmt = [](const std::vector<int64_t>& v) {
      std::string s = "[";
      for (size_t i = 0; i < v.size(); i++) s += (i ? ", " : "") + std::to_string(v[i]);
      return s + "]";
    };
    throw Error(g.path() + ": tensor " + name + " has shape " + fmt(t->ne) + " but the model's metadata implies " + fmt(ne));
  }
  g.read_f32(*t, out);
  const int64_t bad = first_non_finite(out.data(), int64_t(out.size()));
  if (bad >= 0)
    throw Error(g.path() + ": tensor " + name + " holds a non-finite value (" + std::to_string(out[size_t(bad)]) +
                " at index " + std::to_string(bad) + "); the trainer needs finite weights");
  return t->type;
}

void load_weight(const GgufReader& g, const std::string& name, std::vector<int64_t> ne, FrozenWeight& out) {
  const uint32_t type = load_tensor(g, name, std::move(ne), out.values);
  out.rounding = input_rounding_for(type);
  if (type == kGgmlQ8_0) g.read_q8_0(*g.find(name), out.q8, out.q8_scale);
}

}  // namespace

InputRounding input_rounding_for(uint32_t type) {
  switch (type) {
    case kGgmlF16: return InputRounding::kF16;
    case kGgmlBF16: return InputRounding::kBF16;
    case kGgmlQ8_0: return InputRounding::kQ8_0;
    default: return InputRounding::kNone;
  }
}

void round_inputs(const float* x, int64_t rows, int64_t row, InputRounding mode, float* out) {
  const int64_t n = rows * row;
  switch (mode) {
    case InputRounding::kNone:
      if (out != x) std::memcpy(out, x, size_t(n) * 4);
      return;
    case InputRounding::kF16:
      for (int64_t i = 0; i < n; i++) out[i] = ggml::round_f16(x[i]);
      return;
    case InputRounding::kBF16:
      for (int64_t i = 0; i < n; i++) out[i] = ggml::round_bf16(x[i]);
      return;
    case InputRounding::kQ8_0: {
      // Blocks of 32 along each row, quantised as ggml does, then dequantised.
      std::vector<int8_t> q(static_cast<size_t>(n));
      std::vector<float> d(size_t(n / 32));
      ggml::quantize_q8_0(x, n, q.data(), d.data());
      for (int64_t i = 0; i < n; i++) out[i] = float(q[size_t(i)]) * d[size_t(i / 32)];
      return;
    }
  }
}

const ArchSpec* find_arch(const std::string& name) {
  for (const ArchSpec& a : kArchs)
    if (name == a.name) return &a;
  return nullptr;
}

std::string supported_archs() {
  std::string s;
  for (const ArchSpec& a : kArchs) s += (s.empty() ? "" : ", ") + std::string(a.name);
  return s;
}

const char* proj_name(Proj p) { return kProjNames[int(p)]; }

bool proj_from_name(const std::string& name, Proj* out) {
  for (int i = 0; i < kProjCount; i++)
    if (name == kProjNames[i]) { *out = Proj(i); return true; }
  return false;
}

int64_t proj_in(const ModelConfig& c, Proj p) {
  switch (p) {
    case Proj::kO: return c.heads * c.head_dim;
    case Proj::kDown: return c.ff;
    default: return c.d;
  }
}

int64_t proj_out(const ModelConfig& c, Proj p) {
  switch (p) {
    case Proj::kQ: return c.heads * c.head_dim;
    case Proj::kK: case Proj::kV: return c.kv_heads * c.head_dim;
    case Proj::kO: case Proj::kDown: return c.d;
    default: return c.ff;
  }
}

std::unique_ptr<Model> load_model(const std::string& path) {
  GgufReader g(path);
  auto model = std::make_unique<Model>();
  ModelConfig& c = model->config;
  if (g.has("general.type") && g.get_string("general.type") == "adapter")
    throw Error(path + " is a LoRA adapter, not a model: load the base model and then the adapter");
  c.arch = g.get_string("general.architecture");
  const ArchSpec* spec = find_arch(c.arch);
  if (!spec) throw Error(path + ": architecture '" + c.arch + "' is not supported by the trainer (supported: " + supported_archs() + ")");
  const std::string a = c.arch + ".";
  const auto positive = [&](const std::string& key, uint64_t v, uint64_t max) {
    if (v == 0 || v > max) throw Error(path + ": " + key + " = " + std::to_string(v) + " is out of range");
    return int64_t(v);
  };
  c.d = positive(a + "embedding_length", g.get_uint(a + "embedding_length"), 1 << 16);
  c.layers = positive(a + "block_count", g.get_uint(a + "block_count"), 1024);
  c.ff = positive(a + "feed_forward_length", g.get_uint(a + "feed_forward_length"), 1 << 18);
  c.heads = positive(a + "attention.head_count", g.get_uint(a + "attention.head_count"), 1024);
  c.kv_heads = positive(a + "attention.head_count_kv", g.get_uint_or(a + "attention.head_count_kv", uint64_t(c.heads)), 1024);
  c.context = int64_t(g.get_uint_or(a + "context_length", 0));
  if (c.d % c.heads != 0) throw Error(path + ": embedding_length " + std::to_string(c.d) + " is not a multiple of head_count " + std::to_string(c.heads));
  if (c.heads % c.kv_heads != 0) throw Error(path + ": head_count " + std::to_string(c.heads) + " is not a multiple of head_count_kv " + std::to_string(c.kv_heads));
  c.head_dim = c.d / c.heads;
  c.n_rot = int64_t(g.get_uint_or(a + "rope.dimension_count", uint64_t(c.head_dim)));
  if (c.n_rot != c.head_dim) throw Error(path + ": rope.dimension_count " + std::to_string(c.n_rot) + " differs from the head size " + std::to_string(c.head_dim) + " (partial rotary embeddings are not supported)");
  if (c.head_dim % 2 != 0) throw Error(path + ": head size " + std::to_string(c.head_dim) + " is odd");
  c.rope_theta = float(g.get_float_or(a + "rope.freq_base", 10000.0));
  c.rms_eps = float(g.get_float(a + "attention.layer_norm_rms_epsilon"));
  if (!(c.rope_theta > 0) || !std::isfinite(c.rope_theta)) throw Error(path + ": rope.freq_base must be positive");
  if (!(c.rms_eps > 0) || !std::isfinite(c.rms_eps)) throw Error(path + ": attention.layer_norm_rms_epsilon must be positive");
  c.rope = spec->rope;

  const GgufTensor* embd = g.find("token_embd.weight");
  if (!embd) throw Error(path + ": tensor token_embd.weight is missing");
  if (embd->ne.size() != 2) throw Error(path + ": token_embd.weight must be 2-D");
  c.vocab = embd->ne[1];
  if (g.has("tokenizer.ggml.tokens") && int64_t(g.get_array_length("tokenizer.ggml.tokens")) != c.vocab)
    throw Error(path + ": token_embd.weight has " + std::to_string(c.vocab) + " rows but the vocabulary has " +
                std::to_string(g.get_array_length("tokenizer.ggml.tokens")) + " tokens");

  ModelWeights& w = model->weights;
  load_weight(g, "token_embd.weight", {c.d, c.vocab}, w.token_embd);
  load_tensor(g, "output_norm.weight", {c.d}, w.output_norm);
  c.tied = g.find("output.weight") == nullptr;
  if (!c.tied) load_weight(g, "output.weight", {c.d, c.vocab}, w.output);
  w.layers.resize(size_t(c.layers));
  for (int64_t l = 0; l < c.layers; l++) {
    const std::string b = "blk." + std::to_string(l) + ".";
    LayerWeights& lw = w.layers[size_t(l)];
    load_tensor(g, b + "attn_norm.weight", {c.d}, lw.attn_norm);
    load_tensor(g, b + "ffn_norm.weight", {c.d}, lw.ffn_norm);
    for (int p = 0; p < kProjCount; p++)
      load_weight(g, b + kProjNames[p] + ".weight", {proj_in(c, Proj(p)), proj_out(c, Proj(p))}, lw.w[size_t(p)]);
    const bool any_bias = g.find(b + "attn_q.bias") || g.find(b + "attn_k.bias") || g.find(b + "attn_v.bias");
    if (any_bias && !spec->qkv_bias) throw Error(path + ": " + c.arch + " models have no attention biases, but " + b + "attn_*.bias exists");
    if (g.find(b + "attn_q.bias")) load_tensor(g, b + "attn_q.bias", {c.heads * c.head_dim}, lw.bq);
    if (g.find(b + "attn_k.bias")) load_tensor(g, b + "attn_k.bias", {c.kv_heads * c.head_dim}, lw.bk);
    if (g.find(b + "attn_v.bias")) load_tensor(g, b + "attn_v.bias", {c.kv_heads * c.head_dim}, lw.bv);
  }
  return model;
}

}  // namespace spogw
