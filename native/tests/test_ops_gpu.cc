// The CUDA ops (src/cuda/ops.h, linear.h, loss.h, gemm.h) against the per-op references of
// tests/ops/*.h, with the same cases and tolerances as the CPU ops, in the F32 precision mode; then
// each CUDA op against the CPU op on the same inputs, in F32 mode (1e-5: only summation orders differ)
// and in the BF16 mode the engine trains in (1e-2: F16/BF16 operands in the products). Built twice
// (CMakeLists.txt): test_ops_gpu_emu on the CPU emulation of a device, run by `npm run test:native`,
// and test_ops_gpu_cuda on a real GPU, run by scripts/gpu-check.sh. Inputs and outputs cross to the
// device around each op; outputs start as NaN there (the emulator poisons new device memory).
#include <cstring>

#include "cuda/gemm.h"
#include "cuda/half.h"
#include "cuda/linear.h"
#include "cuda/loss.h"
#include "cuda/ops.h"
#include "ops/attention.h"
#include "ops/embedding.h"
#include "ops/linear.h"
#include "ops/output.h"
#include "ops/rmsnorm.h"
#include "ops/rope.h"
#include "ops/swiglu.h"
#include "ops/tree_attention.h"
#include "spogw/engine/ggml_numerics.h"
#include "spogw/engine/ops.h"
#include "spogw/gemm.h"
#include "spogw/grpo_loss.h"

using namespace spogw;
using namespace spogw::test;
namespace gpu = spogw::gpu;

namespace {

// CUDA vs CPU on the same inputs: F32 mode differs by summation order only; BF16 mode rounds the
// products' operands to F16/BF16 (8 to 11 significant bits).
constexpr double kVsCpuF32Tol = 1e-5;
constexpr double kVsCpuBf16Tol = 1e-2;

template <class T>
gpu::Buffer<T> up(const T* host, int64_t n) {
  gpu::Buffer<T> b(std::max<int64_t>(n, 1), "test input");
  if (n > 0) b.upload(host, n);
  return b;
}
template <class V>
auto up(const V& v) {
  return up(v.data(), int64_t(v.size()));
}
template <class T>
void down(const gpu::Buffer<T>& b, T* host, int64_t n) {
  gpu::synchronize("test op");
  if (n > 0) b.download(host, n);
}

// ---- bindings of the CUDA ops to the harness' signatures (host pointers)

const EmbeddingOps kEmbedding{
    [](const float* table, int64_t d, const int32_t* tokens, int64_t T, float* out) {
      int32_t vmax = 0;
      for (int64_t t = 0; t < T; t++) vmax = std::max(vmax, tokens[t]);
      auto dt = up(table, int64_t(vmax + 1) * d);
      auto dtok = up(tokens, T);
      gpu::Buffer<float> dout(T * d, "out");
      gpu::embedding_forward(dt.get(), gpu::DType::kF32, d, dtok.get(), T, dout.get());
      down(dout, out, T * d);
    },
    [](const float* dy, const int32_t* tokens, int64_t T, int64_t d, float* dtable) {
      int32_t vmax = 0;
      for (int64_t t = 0; t < T; t++) vmax = std::max(vmax, tokens[t]);
      const int64_t n = int64_t(vmax + 1) * d;
      auto ddy = up(dy, T * d);
      auto dtok = up(tokens, T);
      auto dtab = up(dtable, n);
      gpu::embedding_backward(ddy.get(), dtok.get(), T, d, dtab.get());
      down(dtab, dtable, n);
    }};

const RmsnormOps kRmsnorm{
    [](const float* x, const float* w, int64_t T, int64_t d, float eps, float* y, float* rstd) {
      auto dx = up(x, T * d), dw = up(w, d);
      gpu::Buffer<float> dy(T * d, "y"), dr(T, "rstd");
      gpu::rmsnorm_forward(dx.get(), dw.get(), T, d, eps, dy.get(), dr.get());
      down(dy, y, T * d);
      down(dr, rstd, T);
    },
    [](const float* dy, const float* x, const float* w, const float* rstd, int64_t T, int64_t d, float* dx) {
      auto ddy = up(dy, T * d), dxx = up(x, T * d), dw = up(w, d), dr = up(rstd, T);
      gpu::Buffer<float> out(T * d, "dx");
      gpu::rmsnorm_backward(ddy.get(), dxx.get(), dw.get(), dr.get(), T, d, out.get());
      down(out, dx, T * d);
    }};

// The CPU's angle table, uploaded: the engine does the same.
RopeOps::Fn rope_binding(bool forward) {
  return [forward](float* x, int64_t T, int64_t heads, int64_t hd, float base, RopeMode mode) {
    RopeTable table;
    rope_table(table, T, hd, base);
    auto dc = up(table.cos), ds = up(table.sin), dx = up(x, T * heads * hd);
    (forward ? gpu::rope_forward : gpu::rope_backward)(dx.get(), T, heads, hd, dc.get(), ds.get(), table.half, mode, nullptr);
    down(dx, x, T * heads * hd);
  };
}
const RopeOps kRope{rope_binding(true), rope_binding(false)};

// Rows at given positions (a packed group's), the table uploaded once for positions < table_T.
RopeAtOps::Fn rope_at_binding(bool forward) {
  return [forward](float* x, int64_t T, const int32_t* positions, int64_t table_T, int64_t heads, int64_t hd, float base, RopeMode mode) {
    RopeTable table;
    rope_table(table, table_T, hd, base);
    auto dc = up(table.cos), ds = up(table.sin), dx = up(x, T * heads * hd);
    auto dpos = up(positions, T);
    (forward ? gpu::rope_forward : gpu::rope_backward)(dx.get(), T, heads, hd, dc.get(), ds.get(), table.half, mode, dpos.get());
    down(dx, x, T * heads * hd);
  };
}
const RopeAtOps kRopeAt{rope_at_binding(true), rope_at_binding(false)};

const AttentionOps kAttention{
    [](const float* q, const float* k, const float* v, AttnShape s, float* out) {
      auto dq = up(q, s.T * s.H * s.hd), dk = up(k, s.T * s.KV * s.hd), dv = up(v, s.T * s.KV * s.hd);
      gpu::Buffer<float> dout(s.T * s.H * s.hd, "out"), stats(2 * s.H * s.T, "stats");
      gpu::attention_forward(dq.get(), dk.get(), dv.get(), s, dout.get(), stats.get());
      down(dout, out, s.T * s.H * s.hd);
    },
    // The backward reads the forward's output and row statistics: computed here first, as the engine does.
    [](const float* dout, const float* q, const float* k, const float* v, AttnShape s, float* dq, float* dk, float* dv) {
      const int64_t nq = s.T * s.H * s.hd, nkv = s.T * s.KV * s.hd;
      auto ddout = up(dout, nq), dqq = up(q, nq), dkk = up(k, nkv), dvv = up(v, nkv);
      gpu::Buffer<float> out(nq, "out"), stats(2 * s.H * s.T, "stats"), row_dot(s.H * s.T, "row_dot"), gq(nq, "dq"), gk(nkv, "dk"),
          gv(nkv, "dv");
      gpu::attention_forward(dqq.get(), dkk.get(), dvv.get(), s, out.get(), stats.get());
      gpu::attention_backward(ddout.get(), dqq.get(), dkk.get(), dvv.get(), out.get(), stats.get(), s, gq.get(), gk.get(), gv.get(),
                              row_dot.get());
      down(gq, dq, nq);
      down(gk, dk, nkv);
      down(gv, dv, nkv);
    }};

// Tree attention over a packed group: the segment starts the engine uploads (engine.cc upload_rows).
gpu::Buffer<int32_t> segments_of(const GroupLayout& g) {
  std::vector<int32_t> seg(size_t(g.rows()), 0);
  for (const GroupResponse& r : g.responses) std::fill(seg.begin() + r.row, seg.begin() + r.row + r.length, int32_t(r.row));
  return up(seg);
}

const TreeAttentionOps kTreeAttention{
    [](const float* q, const float* k, const float* v, const GroupLayout& g, AttnHeads a, float* out) {
      const AttnShape s{g.rows(), a.H, a.KV, a.hd};
      auto dq = up(q, s.T * s.H * s.hd), dk = up(k, s.T * s.KV * s.hd), dv = up(v, s.T * s.KV * s.hd);
      auto seg = segments_of(g);
      gpu::Buffer<float> dout(s.T * s.H * s.hd, "out"), stats(2 * s.H * s.T, "stats");
      gpu::attention_forward(dq.get(), dk.get(), dv.get(), s, dout.get(), stats.get(), gpu::AttnTree{seg.get(), g.prompt_rows});
      down(dout, out, s.T * s.H * s.hd);
    },
    [](const float* dout, const float* q, const float* k, const float* v, const GroupLayout& g, AttnHeads a, float* dq, float* dk, float* dv) {
      const AttnShape s{g.rows(), a.H, a.KV, a.hd};
      const int64_t nq = s.T * s.H * s.hd, nkv = s.T * s.KV * s.hd;
      auto ddout = up(dout, nq), dqq = up(q, nq), dkk = up(k, nkv), dvv = up(v, nkv);
      auto seg = segments_of(g);
      const gpu::AttnTree tree{seg.get(), g.prompt_rows};
      gpu::Buffer<float> out(nq, "out"), stats(2 * s.H * s.T, "stats"), row_dot(s.H * s.T, "row_dot"), gq(nq, "dq"), gk(nkv, "dk"), gv(nkv, "dv");
      gpu::attention_forward(dqq.get(), dkk.get(), dvv.get(), s, out.get(), stats.get(), tree);
      gpu::attention_backward(ddout.get(), dqq.get(), dkk.get(), dvv.get(), out.get(), stats.get(), s, gq.get(), gk.get(), gv.get(), row_dot.get(), tree);
      down(gq, dq, nq);
      down(gk, dk, nkv);
      down(gv, dv, nkv);
    },
    // The device's plain causal attention: the same tiles in another order, so rows agree within
    // the forward tolerance, not bit for bit.
    [](const float* q, const float* k, const float* v, AttnShape s, float* out) { kAttention.forward(q, k, v, s, out); },
    false};

const SwigluOps kSwiglu{
    [](const float* gate, const float* up_, int64_t T, int64_t F, float* out) {
      auto dg = up(gate, T * F), du = up(up_, T * F);
      gpu::Buffer<float> o(T * F, "out");
      gpu::swiglu_forward(dg.get(), du.get(), T * F, o.get());
      down(o, out, T * F);
    },
    [](const float* dout, const float* gate, const float* up_, int64_t n, float* dgate, float* dup) {
      auto dd = up(dout, n), dg = up(gate, n), du = up(up_, n);
      gpu::Buffer<float> og(n, "dgate"), ou(n, "dup");
      gpu::swiglu_backward(dd.get(), dg.get(), du.get(), n, og.get(), ou.get());
      down(og, dgate, n);
      down(ou, dup, n);
    }};

// Linear + LoRA: the frozen weight uploaded in `precision`, LoRA matrices and gradients through the device.
struct DeviceLoraCopy {
  gpu::Buffer<float> A, B, gA, gB;
  gpu::DeviceLora ref;
  DeviceLoraCopy(const LoraRef& lora, int64_t n_in, int64_t n_out) {
    if (!lora.active()) return;
    A = up(lora.A, lora.r * n_in);
    B = up(lora.B, n_out * lora.r);
    ref = gpu::DeviceLora{A.get(), B.get(), nullptr, nullptr, lora.r, lora.scale};
    if (lora.gA) {
      gA = up(lora.gA, lora.r * n_in);
      ref.gA = gA.get();
    }
    if (lora.gB) {
      gB = up(lora.gB, n_out * lora.r);
      ref.gB = gB.get();
    }
  }
  void download_grads(const LoraRef& lora, int64_t n_in, int64_t n_out) {
    if (lora.gA) down(gA, lora.gA, lora.r * n_in);
    if (lora.gB) down(gB, lora.gB, n_out * lora.r);
  }
};

LinearOps linear_binding(gpu::Precision precision) {
  return LinearOps{
      [precision](const float* x, int64_t T, int64_t n_in, int64_t n_out, const FrozenWeight& W, const float* bias, const LoraRef& lora, float* y,
                  float* xa) {
        const gpu::DeviceWeight w = gpu::upload_weight(W, n_out, n_in, precision, "test weight");
        DeviceLoraCopy l(lora, n_in, n_out);
        auto dx = up(x, T * n_in);
        gpu::Buffer<float> db = bias ? up(bias, n_out) : gpu::Buffer<float>(), dy(T * n_out, "y"), dxa(std::max<int64_t>(1, T * lora.r), "xa");
        gpu::LinearScratch s;
        gpu::linear_forward(dx.get(), T, w, bias ? db.get() : nullptr, l.ref, dy.get(), dxa.get(), s);
        down(dy, y, T * n_out);
        if (lora.active()) down(dxa, xa, T * lora.r);
      },
      [precision](const float* dy, const float* x, const float* xa, int64_t T, int64_t n_in, int64_t n_out, const FrozenWeight& W,
                  const LoraRef& lora, float* dx, bool accumulate_dx) {
        const gpu::DeviceWeight w = gpu::upload_weight(W, n_out, n_in, precision, "test weight");
        DeviceLoraCopy l(lora, n_in, n_out);
        auto ddy = up(dy, T * n_out), dxx = up(x, T * n_in), ddx = up(dx, T * n_in);
        gpu::Buffer<float> dxa = lora.active() ? up(xa, T * lora.r) : gpu::Buffer<float>();
        gpu::LinearScratch s;
        gpu::linear_backward(ddy.get(), dxx.get(), dxa.get(), T, w, l.ref, ddx.get(), accumulate_dx, s);
        down(ddx, dx, T * n_in);
        l.download_grads(lora, n_in, n_out);
      }};
}

const OutputOps kOutput{
    [](const float* hidden, const float* lm_head, const int32_t* targets, int64_t T, int64_t d, int64_t V, float temperature, float* logp) {
      selective_logprobs_cuda(hidden, lm_head, targets, T, d, V, temperature, logp, 2);
    },
    [](const GrpoLossInputs& in, const GrpoLossConfig& cfg, float* logp, float* d_hidden) {
      return grpo_loss_cuda(in, cfg, {logp, d_hidden}, 2).loss;
    }};

// ---- CUDA vs CPU on the same inputs

void vs_cpu(const std::string& what, const std::vector<float>& gpu_out, const std::vector<float>& cpu_out, double tol) {
  expect_close(what + " vs CPU", gpu_out.data(), widen(cpu_out), tol);
}

// Attention at the head sizes of real models (the harness' cases have hd <= 16).
void attention_vs_cpu() {
  Rng rng(81);
  for (AttnShape s : {AttnShape{45, 4, 2, 64}, AttnShape{70, 2, 1, 128}, AttnShape{33, 3, 3, 40}}) {
    const AttentionInputs in(s, rng);
    const std::vector<float> dout = rng.normal(s.T * s.H * s.hd);
    std::vector<float> out_c(in.q.size()), dq_c(in.q.size()), dk_c(in.k.size()), dv_c(in.v.size());
    AlignedFloats scratch;
    attention_forward(in.q.data(), in.k.data(), in.v.data(), s, out_c.data(), scratch);
    attention_backward(dout.data(), in.q.data(), in.k.data(), in.v.data(), s, dq_c.data(), dk_c.data(), dv_c.data(), scratch);
    std::vector<float> out_g(in.q.size()), dq_g(in.q.size()), dk_g(in.k.size()), dv_g(in.v.size());
    kAttention.forward(in.q.data(), in.k.data(), in.v.data(), s, out_g.data());
    kAttention.backward(dout.data(), in.q.data(), in.k.data(), in.v.data(), s, dq_g.data(), dk_g.data(), dv_g.data());
    const std::string label = format("T=%lld H=%lld KV=%lld hd=%lld", (long long)s.T, (long long)s.H, (long long)s.KV, (long long)s.hd);
    vs_cpu(label + ": out", out_g, out_c, kVsCpuF32Tol);
    vs_cpu(label + ": dq", dq_g, dq_c, kVsCpuF32Tol);
    vs_cpu(label + ": dk", dk_g, dk_c, kVsCpuF32Tol);
    vs_cpu(label + ": dv", dv_g, dv_c, kVsCpuF32Tol);
  }
}

// Linear + LoRA in both precision modes, every weight type, forward and backward.
void linear_vs_cpu(gpu::Precision precision) {
  const double tol = precision == gpu::Precision::kF32 ? kVsCpuF32Tol : kVsCpuBf16Tol;
  Rng rng(82);
  for (WeightType type : {WeightType::kF32, WeightType::kF16, WeightType::kBF16, WeightType::kQ8_0}) {
    for (const LinearCase& c : {LinearCase{37, 96, 70, 8, true, false}, LinearCase{9, 64, 32, 4, false, true}}) {
      const LinearInputs in(type, c, rng);
      const std::vector<float> dy = rng.normal(c.T * c.n_out, 1e-3), dx0 = rng.normal(c.T * c.n_in);
      const auto run = [&](const LinearOps& op, std::vector<float>& y, std::vector<float>& xa, std::vector<float>& dx, std::vector<float>& gA,
                           std::vector<float>& gB) {
        y.assign(size_t(c.T * c.n_out), 0.0f);
        xa.assign(size_t(c.T * c.r), 0.0f);
        dx = dx0;
        gA.assign(size_t(c.r * c.n_in), 0.0f);
        gB.assign(size_t(c.n_out * c.r), 0.0f);
        const LoraRef lora = in.lora(c.r, gA.data(), gB.data());
        op.forward(in.x.data(), c.T, c.n_in, c.n_out, in.W, c.bias ? in.bias.data() : nullptr, lora, y.data(), xa.data());
        op.backward(dy.data(), in.x.data(), xa.data(), c.T, c.n_in, c.n_out, in.W, lora, dx.data(), c.accumulate_dx);
      };
      std::vector<float> scratch;
      const LinearOps cpu{
          [&](const float* x, int64_t T, int64_t n_in, int64_t n_out, const FrozenWeight& W, const float* bias, const LoraRef& lora, float* y,
              float* xa) { linear_forward(x, T, n_in, n_out, W, bias, lora, y, xa, scratch); },
          [&](const float* dyp, const float* x, const float* xa, int64_t T, int64_t n_in, int64_t n_out, const FrozenWeight& W,
              const LoraRef& lora, float* dx, bool acc) { linear_backward(dyp, x, xa, T, n_in, n_out, W, lora, dx, acc, scratch); }};
      std::vector<float> y_c, xa_c, dx_c, gA_c, gB_c, y_g, xa_g, dx_g, gA_g, gB_g;
      run(cpu, y_c, xa_c, dx_c, gA_c, gB_c);
      run(linear_binding(precision), y_g, xa_g, dx_g, gA_g, gB_g);
      const std::string label = std::string(weight_type_name(type)) + " " + c.label();
      vs_cpu(label + ": y", y_g, y_c, tol);
      vs_cpu(label + ": xa", xa_g, xa_c, tol);
      vs_cpu(label + ": dx", dx_g, dx_c, tol);
      vs_cpu(label + ": gA", gA_g, gA_c, tol);
      vs_cpu(label + ": gB", gB_g, gB_c, tol);
    }
  }
}

// The input roundings are llama.cpp's, value for value: equal to the CPU's to the bit, including F16
// subnormals, halfway cases, overflow and an all-zero Q8_0 block.
void rounding_vs_cpu() {
  Rng rng(83);
  std::vector<float> x = rng.normal(32 * 40, 3.0);
  const float specials[] = {0.0f, -0.0f, 6.1e-5f, 5.9604645e-08f, 2.98e-08f, 8.94e-08f, 1e-30f, 65504.0f, 65519.0f, 65520.0f, -70000.0f,
                            1.00048828125f, 1.000732421875f, 3.0e38f};
  for (size_t i = 0; i < sizeof specials / sizeof specials[0]; i++) x[i] = specials[i];
  for (size_t i = 64; i < 96; i++) x[i] = 0.0f;  // a Q8_0 block of zeros
  for (size_t i = 96; i < 160; i++) x[i] *= 1e-6f;
  const int64_t rows = 40, row = 32;
  for (InputRounding mode : {InputRounding::kF16, InputRounding::kBF16, InputRounding::kQ8_0}) {
    std::vector<float> cpu(x.size()), got(x.size());
    round_inputs(x.data(), rows, row, mode, cpu.data());
    auto dx = up(x);
    gpu::Buffer<float> out(int64_t(x.size()), "rounded");
    gpu::round_inputs(dx.get(), rows, row, mode, out.get());
    down(out, got.data(), int64_t(got.size()));
    const char* name = mode == InputRounding::kF16 ? "f16" : mode == InputRounding::kBF16 ? "bf16" : "q8_0";
    bool same = true;
    for (size_t i = 0; i < x.size(); i++) same = same && std::memcmp(&got[i], &cpu[i], 4) == 0;
    report(same, std::string("round_inputs ") + name + " vs CPU", same ? "bit for bit" : "differs");
  }
  // Conversion to F16/BF16 bits equals the CPU's rounding.
  for (gpu::DType t : {gpu::DType::kF16, gpu::DType::kBF16}) {
    auto dx = up(x);
    gpu::Buffer<uint16_t> out(int64_t(x.size()), "converted");
    gpu::convert(dx.get(), int64_t(x.size()), t, out.get());
    std::vector<uint16_t> bits(x.size());
    down(out, bits.data(), int64_t(bits.size()));
    bool same = true;
    for (size_t i = 0; i < x.size(); i++) {
      const float back = t == gpu::DType::kF16 ? gpu::f16_to_f32(bits[i]) : gpu::bf16_to_f32(bits[i]);
      const float want = t == gpu::DType::kF16 ? ggml::round_f16(x[i]) : ggml::round_bf16(x[i]);
      same = same && std::memcmp(&back, &want, 4) == 0;
    }
    report(same, std::string("convert to ") + gpu::dtype_name(t) + " vs ggml's rounding", same ? "bit for bit" : "differs");
  }
}

// Per-row scaled conversion and its inverse: rows from 1e-12 to 1e4 keep F16's 11 significant bits.
void scaled_rows_round_trip() {
  Rng rng(84);
  const int64_t rows = 6, cols = 77;
  std::vector<float> x = rng.normal(rows * cols);
  const double magnitudes[] = {1e-12, 1e-7, 1e-3, 1.0, 300.0, 1e4};
  for (int64_t r = 0; r < rows; r++)
    for (int64_t c = 0; c < cols; c++) x[size_t(r * cols + c)] *= float(magnitudes[r]);
  for (gpu::DType t : {gpu::DType::kF16, gpu::DType::kBF16}) {
    auto dx = up(x);
    gpu::Buffer<uint16_t> half(rows * cols, "half");
    gpu::Buffer<float> inv(rows, "inv"), out(rows * cols, "out");
    gpu::convert_rows_scaled(dx.get(), rows, cols, t, half.get(), inv.get());
    // product = the converted values themselves: a GEMM with the identity
    std::vector<float> eye(size_t(cols * cols), 0.0f);
    for (int64_t i = 0; i < cols; i++) eye[size_t(i * cols + i)] = 1.0f;
    std::vector<uint16_t> eye_h(eye.size());
    for (size_t i = 0; i < eye.size(); i++) eye_h[i] = t == gpu::DType::kF16 ? gpu::f32_to_f16(eye[i]) : gpu::f32_to_bf16(eye[i]);
    auto deye = up(eye_h);
    gpu::Buffer<float> prod(rows * cols, "product");
    gpu::gemm(false, false, rows, cols, cols, 1.0f, half.get(), cols, deye.get(), cols, t, 0.0f, prod.get(), cols);
    gpu::add_rows_scaled(prod.get(), inv.get(), rows, cols, out.get(), false);
    std::vector<float> got(x.size());
    down(out, got.data(), int64_t(got.size()));
    double worst = 0.0;
    for (int64_t r = 0; r < rows; r++) {
      double amax = 0.0, diff = 0.0;
      for (int64_t c = 0; c < cols; c++) {
        amax = std::max(amax, std::fabs(double(x[size_t(r * cols + c)])));
        diff = std::max(diff, std::fabs(double(got[size_t(r * cols + c)]) - x[size_t(r * cols + c)]));
      }
      worst = std::max(worst, diff / amax);
    }
    const double tol = t == gpu::DType::kF16 ? 1.0 / 2048 : 1.0 / 256;  // half an ulp at the row's top, times two
    report(worst <= tol, std::string("scaled rows through ") + gpu::dtype_name(t) + " and back",
           format("worst row error %.2e relative to its largest value (tolerance %.1e)", worst, tol));
  }
}

// Every transpose combination, alpha and beta, each operand type, odd sizes, leading dimensions wider
// than the rows: against a float64 product of the same (converted) operands.
void gemm_vs_reference() {
  Rng rng(85);
  for (gpu::DType t : {gpu::DType::kF32, gpu::DType::kF16, gpu::DType::kBF16}) {
    for (int ta = 0; ta < 2; ta++)
      for (int tb = 0; tb < 2; tb++) {
        const int64_t M = 67, N = 45, K = 83, lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 2, ldc = N + 5;
        const float alpha = 0.75f, beta = ta == tb ? 0.0f : -1.5f;
        std::vector<float> A = rng.normal((ta ? K : M) * lda), B = rng.normal((tb ? N : K) * ldb), C = rng.normal(M * ldc);
        const auto rounded = [&](float v) { return t == gpu::DType::kF16 ? ggml::round_f16(v) : t == gpu::DType::kBF16 ? ggml::round_bf16(v) : v; };
        for (float& v : A) v = rounded(v);
        for (float& v : B) v = rounded(v);
        const auto to_bytes = [&](const std::vector<float>& v) {
          std::vector<uint8_t> out(v.size() * size_t(gpu::dtype_bytes(t)));
          for (size_t i = 0; i < v.size(); i++) {
            if (t == gpu::DType::kF32) std::memcpy(&out[i * 4], &v[i], 4);
            else {
              const uint16_t h = t == gpu::DType::kF16 ? gpu::f32_to_f16(v[i]) : gpu::f32_to_bf16(v[i]);
              std::memcpy(&out[i * 2], &h, 2);
            }
          }
          return out;
        };
        auto dA = up(to_bytes(A)), dB = up(to_bytes(B));
        auto dC = up(C);
        gpu::gemm(ta, tb, M, N, K, alpha, dA.get(), lda, dB.get(), ldb, t, beta, dC.get(), ldc);
        std::vector<float> got(C.size());
        down(dC, got.data(), int64_t(got.size()));
        Doubles want(C.size(), std::numeric_limits<double>::quiet_NaN());
        for (int64_t i = 0; i < M; i++)
          for (int64_t j = 0; j < N; j++) {
            double s = 0.0;
            for (int64_t k = 0; k < K; k++) s += double(ta ? A[size_t(k * lda + i)] : A[size_t(i * lda + k)]) * (tb ? B[size_t(j * ldb + k)] : B[size_t(k * ldb + j)]);
            want[size_t(i * ldc + j)] = alpha * s + (beta == 0.0f ? 0.0 : double(beta) * C[size_t(i * ldc + j)]);
          }
        expect_close(format("gemm %s trans_a=%d trans_b=%d beta=%g", gpu::dtype_name(t), ta, tb, double(beta)), got.data(), want, 1e-6);
        // columns past N in each row of C are not part of the product: left as they were
        bool untouched = true;
        for (int64_t i = 0; i < M; i++)
          for (int64_t j = N; j < ldc; j++) untouched = untouched && got[size_t(i * ldc + j)] == C[size_t(i * ldc + j)];
        report(untouched, format("gemm %s trans_a=%d trans_b=%d: C's padding untouched", gpu::dtype_name(t), ta, tb), "");
      }
  }
}

// The loss with an F16 head (the BF16 mode's output layer) vs the CPU kernel on the head's values.
void output_vs_cpu() {
  Rng rng(86);
  const OutputCase c{23, 64, 517, 3, output_config(0.7f, false), 0};
  OutputInputs in(c, rng);
  for (float& v : in.lm_head) v = ggml::round_f16(v);
  for (float& v : in.hidden) v = ggml::round_f16(v);
  std::vector<float> logp_c(size_t(c.T)), dh_c(size_t(c.T * c.d));
  const GrpoLossSums cpu = grpo_loss_fused(in.view(c), c.cfg, {logp_c.data(), dh_c.data()}, 5);
  FrozenWeight head;
  head.values.assign(in.lm_head.begin(), in.lm_head.end());
  head.rounding = InputRounding::kF16;
  for (gpu::Precision p : {gpu::Precision::kF32, gpu::Precision::kBF16}) {
    const gpu::DeviceWeight w = gpu::upload_weight(head, c.V, c.d, p, "head");
    std::vector<int32_t> seq_of(size_t(c.T));
    for (int64_t i = 0; i < c.S; i++)
      for (int32_t t = in.seq_starts[size_t(i)]; t < in.seq_starts[size_t(i + 1)]; t++) seq_of[size_t(t)] = int32_t(i);
    auto hidden = up(in.hidden), adv = up(in.advantages), wts = up(in.weights), old_lp = up(in.old_logp), ref_lp = up(in.ref_logp);
    auto targets = up(in.targets), seq = up(seq_of);
    gpu::Buffer<float> logp(c.T, "logp"), dh(c.T * c.d, "dHidden");
    gpu::LossScratch s;
    const gpu::DeviceLossInputs din{hidden.get(), targets.get(), seq.get(), adv.get(), wts.get(), old_lp.get(), ref_lp.get(), c.T, c.S};
    const GrpoLossSums sums = gpu::grpo_loss_device(din, w, c.cfg, logp.get(), dh.get(), s, 5);
    std::vector<float> logp_g(size_t(c.T)), dh_g(size_t(c.T * c.d));
    down(logp, logp_g.data(), c.T);
    down(dh, dh_g.data(), c.T * c.d);
    const std::string label = std::string("loss, F16 head, ") + gpu::precision_name(p) + " mode";
    // The head's values are F16 and its inputs are rounded to F16: both modes multiply the same numbers.
    vs_cpu(label + ": logp", logp_g, logp_c, kVsCpuF32Tol);
    const float loss_g = float(sums.loss);
    expect_close(label + ": loss vs CPU", &loss_g, {cpu.loss}, 1e-4);
    vs_cpu(label + ": dHidden", dh_g, dh_c, p == gpu::Precision::kF32 ? kVsCpuF32Tol : kVsCpuBf16Tol);
  }
}

// AdamW against the formulas of spogw/engine/adamw.h in float64, two steps with clipping and decay.
void adamw_vs_reference() {
  Rng rng(87);
  const int64_t n = 1000;
  std::vector<float> value = rng.normal(n), m = rng.normal(n, 0.01), v = rng.normal(n, 0.01);
  for (float& x : v) x = std::fabs(x);
  auto dval = up(value), dm = up(m), dv = up(v);
  Doubles pv = widen(value), pm = widen(m), ps = widen(v);
  const float lr = 1e-2f, beta1 = 0.9f, beta2 = 0.95f, eps = 1e-8f, wd = 0.1f, max_norm = 1.0f;
  for (int step = 1; step <= 2; step++) {
    const std::vector<float> grad = rng.normal(n, 0.1);
    auto dg = up(grad);
    const double sq = gpu::grad_sq_sum(dg.get(), n);
    double want_sq = 0.0;
    for (float g : grad) want_sq += double(g) * g;
    const double sq_err = std::fabs(sq - want_sq) / want_sq;
    report(sq_err <= 1e-12, format("step %d: gradient square sum", step), format("error %.2e  (tolerance 1e-12)", sq_err));
    const double norm = std::sqrt(want_sq);
    const float clip = float(std::min(1.0, max_norm / (norm + 1e-6)));
    const float bias1 = 1.0f - std::pow(beta1, float(step)), bias2 = 1.0f - std::pow(beta2, float(step));
    gpu::adamw_update(dval.get(), dg.get(), dm.get(), dv.get(), n, clip, lr, beta1, beta2, eps, wd, bias1, bias2);
    for (int64_t i = 0; i < n; i++) {
      const double g = double(grad[size_t(i)]) * clip;
      pm[size_t(i)] = beta1 * pm[size_t(i)] + (1.0 - beta1) * g;
      ps[size_t(i)] = beta2 * ps[size_t(i)] + (1.0 - beta2) * g * g;
      const double mh = pm[size_t(i)] / (1.0 - std::pow(double(beta1), step)), vh = ps[size_t(i)] / (1.0 - std::pow(double(beta2), step));
      pv[size_t(i)] -= lr * (mh / (std::sqrt(vh) + eps) + wd * pv[size_t(i)]);
    }
    std::vector<float> got(static_cast<size_t>(n)), zeroed(static_cast<size_t>(n));
    down(dval, got.data(), n);
    down(dg, zeroed.data(), n);
    // The change of each parameter, so that the check sees the update and not the parameter's size.
    Doubles ref_change(static_cast<size_t>(n));
    std::vector<float> got_change(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; i++) {
      got_change[size_t(i)] = float(double(got[size_t(i)]) - value[size_t(i)]);
      ref_change[size_t(i)] = pv[size_t(i)] - value[size_t(i)];
    }
    expect_close(format("step %d: parameter change", step), got_change.data(), ref_change, 1e-4);
    report(std::all_of(zeroed.begin(), zeroed.end(), [](float g) { return g == 0.0f; }), format("step %d: gradients zeroed", step), "");
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string why;
  if (!gpu::device_usable(&why)) {
    std::printf("test_ops_gpu: no usable CUDA device (%s): nothing was run\n", why.c_str());
    return 2;
  }
  std::printf("device: %s; products: %s\n", gpu::device_name().c_str(), gpu::gemm_backend().c_str());
  const LinearOps linear_f32 = linear_binding(gpu::Precision::kF32), linear_bf16 = linear_binding(gpu::Precision::kBF16);
  return run_checks(argc, argv, {
      {"gpu embedding forward", [&] { check_embedding_forward(kEmbedding); }},
      {"gpu embedding backward", [&] { check_embedding_backward(kEmbedding); }},
      {"gpu rmsnorm forward", [&] { check_rmsnorm_forward(kRmsnorm); }},
      {"gpu rmsnorm backward", [&] { check_rmsnorm_backward(kRmsnorm); }},
      {"gpu rope norm forward", [&] { check_rope_forward(kRope, RopeMode::kNorm); }},
      {"gpu rope norm backward", [&] { check_rope_backward(kRope, RopeMode::kNorm); }},
      {"gpu rope neox forward", [&] { check_rope_forward(kRope, RopeMode::kNeox); }},
      {"gpu rope neox backward", [&] { check_rope_backward(kRope, RopeMode::kNeox); }},
      {"gpu attention forward", [&] { check_attention_forward(kAttention); }},
      {"gpu attention backward", [&] { check_attention_backward(kAttention); }},
      {"gpu tree attention forward", [&] { check_tree_attention_forward(kTreeAttention); }},
      {"gpu tree attention backward", [&] { check_tree_attention_backward(kTreeAttention); }},
      {"gpu rope norm at positions", [&] { check_rope_at_positions(kRopeAt, kRope, RopeMode::kNorm); }},
      {"gpu rope neox at positions", [&] { check_rope_at_positions(kRopeAt, kRope, RopeMode::kNeox); }},
      {"gpu swiglu forward", [&] { check_swiglu_forward(kSwiglu); }},
      {"gpu swiglu backward", [&] { check_swiglu_backward(kSwiglu); }},
      {"gpu linear f32 forward", [&] { check_linear_forward(linear_f32, WeightType::kF32); }},
      {"gpu linear f32 backward", [&] { check_linear_backward(linear_f32, WeightType::kF32); }},
      {"gpu linear f16 forward", [&] { check_linear_forward(linear_f32, WeightType::kF16); }},
      {"gpu linear f16 backward", [&] { check_linear_backward(linear_f32, WeightType::kF16); }},
      {"gpu linear bf16 forward", [&] { check_linear_forward(linear_f32, WeightType::kBF16); }},
      {"gpu linear bf16 backward", [&] { check_linear_backward(linear_f32, WeightType::kBF16); }},
      {"gpu linear q8_0 forward", [&] { check_linear_forward(linear_f32, WeightType::kQ8_0); }},
      {"gpu linear q8_0 backward", [&] { check_linear_backward(linear_f32, WeightType::kQ8_0); }},
      {"gpu linear f16 forward, bf16 mode", [&] { check_linear_forward(linear_bf16, WeightType::kF16); }},
      {"gpu linear bf16 forward, bf16 mode", [&] { check_linear_forward(linear_bf16, WeightType::kBF16); }},
      {"gpu output forward", [&] { check_output_forward(kOutput); }},
      {"gpu output backward", [&] { check_output_backward(kOutput); }},
      {"gpu attention vs cpu", [&] { attention_vs_cpu(); }},
      {"gpu linear vs cpu, f32 mode", [&] { linear_vs_cpu(gpu::Precision::kF32); }},
      {"gpu linear vs cpu, bf16 mode", [&] { linear_vs_cpu(gpu::Precision::kBF16); }},
      {"gpu rounding vs cpu", [&] { rounding_vs_cpu(); }},
      {"gpu scaled rows", [&] { scaled_rows_round_trip(); }},
      {"gpu gemm", [&] { gemm_vs_reference(); }},
      {"gpu output vs cpu", [&] { output_vs_cpu(); }},
      {"gpu adamw", [&] { adamw_vs_reference(); }},
  });
}
