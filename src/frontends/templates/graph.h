// The shared transformer pieces the architecture templates are made of, on top of mil::Builder:
// checked weight constants, linear layers, RMSNorm variants, RoPE tables, masked attention over an
// explicit static KV cache, gated MLPs. Every helper returns the name of its result; the first error
// (a missing or mis-shaped tensor names the tensor) is kept and returned by status().
#pragma once
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "frontends/templates/weights.h"
#include "mil/builder.h"

namespace ironmill::templates {

enum class NormStyle {
  kWeight,        // x / rms(x) * w            (LLaMA, Qwen, DeepSeek)
  kOnePlusWeight, // x / rms(x) * (1 + w)      (Gemma 2/3, Qwen3.5: weights stored centred on 0)
  kNoWeight,      // x / rms(x)                (Gemma 4's value norm)
};

// RoPE frequencies for one layer kind. The first `rotary_dim` dims of each head are paired as halves
// (x[i], x[i + rotary_dim/2]); pair i turns with inv_freq_i = theta^(-2i/freq_dim) for i < active_pairs and
// stays still beyond. Default partial rotary: rotary_dim = freq_dim = head_dim * factor, every pair
// active. "proportional" (Gemma 4): rotary_dim = freq_dim = head_dim, active_pairs = factor * head_dim / 2.
struct RopeSpec {
  int64_t head_dim = 0;
  int64_t rotary_dim = 0;
  int64_t freq_dim = 0;
  int64_t active_pairs = 0;
  double theta = 10000.0;
  double attention_scaling = 1.0;  // multiplies cos and sin (yarn)
  bool interleaved = false;        // pairs (x[2i], x[2i+1]) instead of halves
  // inv_freq is rounded through this dtype: transformers keeps it as a float buffer, so a model cast to
  // fp16/bf16 (how half-precision checkpoints are made) carries rounded frequencies.
  mil::DType freq_dtype = mil::DType::kFp32;
  bool operator<(const RopeSpec& o) const {
    return std::tie(head_dim, rotary_dim, freq_dim, active_pairs, theta, attention_scaling, interleaved, freq_dtype) <
           std::tie(o.head_dim, o.rotary_dim, o.freq_dim, o.active_pairs, o.theta, o.attention_scaling, o.interleaved,
                    o.freq_dtype);
  }
};

class Graph {
 public:
  Graph(mil::Program& program, const std::string& function, const WeightSource& weights);

  mil::Builder& builder() { return b_; }
  Status status() const;
  void fail(Status s);
  bool ok() const { return status().ok(); }

  // Weights ------------------------------------------------------------------------------------
  bool has_weight(const std::string& name) const { return weights_.shape(name).has_value(); }
  // A weight constant; an error names the tensor when it is missing or its shape differs.
  std::string weight(const std::string& name, const mil::Shape& expected);
  std::optional<mil::Tensor> weight_tensor(const std::string& name, const mil::Shape& expected);

  // Constants ----------------------------------------------------------------------------------
  std::string f32(const std::vector<double>& values, const mil::Shape& shape);
  std::string i32(const std::vector<int64_t>& values, const mil::Shape& shape);

  // Ops ----------------------------------------------------------------------------------------
  std::string op(const std::string& type, const std::map<std::string, mil::Builder::Arg>& inputs);
  std::vector<std::string> ops(const std::string& type, const std::map<std::string, mil::Builder::Arg>& inputs);
  std::string add(const std::string& x, const std::string& y) { return op("add", {{"x", x}, {"y", y}}); }
  std::string sub(const std::string& x, const std::string& y) { return op("sub", {{"x", x}, {"y", y}}); }
  std::string mul(const std::string& x, const std::string& y) { return op("mul", {{"x", x}, {"y", y}}); }
  std::string div(const std::string& x, const std::string& y) { return op("real_div", {{"x", x}, {"y", y}}); }
  std::string scale(const std::string& x, double s);
  std::string add_scalar(const std::string& x, double s);
  std::string unary(const std::string& type, const std::string& x) { return op(type, {{"x", x}}); }
  std::string reshape(const std::string& x, const mil::Shape& shape);
  std::string transpose(const std::string& x, const std::vector<int64_t>& perm);
  std::string matmul(const std::string& x, const std::string& y, bool transpose_y = false);
  std::string softmax(const std::string& x, int64_t axis = -1);
  std::string concat(const std::vector<std::string>& xs, int64_t axis);
  // x[..., begin:end] along `axis` (other axes whole).
  std::string slice(const std::string& x, int64_t axis, int64_t begin, int64_t end);
  std::string reduce(const std::string& type, const std::string& x, int64_t axis, bool keep_dims);
  std::string gelu_tanh(const std::string& x);
  std::string softcap(const std::string& x, double cap);  // cap * tanh(x / cap)
  const mil::Shape& shape(const std::string& x);

  // Layers -------------------------------------------------------------------------------------
  // x · Wᵀ (+ b): `prefix` + ".weight" [out, in], optional ".bias" when `bias` is true.
  std::string linear(const std::string& x, const std::string& prefix, int64_t in, int64_t out, bool bias = false);
  // RMSNorm over the last axis; `weight_name` is ignored for kNoWeight.
  std::string rms_norm(const std::string& x, const std::string& weight_name, int64_t dim, double eps, NormStyle style);
  // cos/sin tables [positions, head_dim] as constants (cached per spec and length).
  std::pair<std::string, std::string> rope_tables(const RopeSpec& spec, int64_t positions);
  // Applies RoPE to x [T, heads, head_dim] with tables broadcastable to [T, 1, head_dim].
  std::string apply_rope(const std::string& x, const RopeSpec& spec, const std::string& cos, const std::string& sin);

 private:
  mil::Builder b_;
  const WeightSource& weights_;
  Status own_;
  std::map<std::pair<RopeSpec, int64_t>, std::pair<std::string, std::string>> rope_cache_;
  std::map<RopeSpec, std::string> rotate_cache_;
  mil::Shape empty_;
};

// Renames SSA values of a function (op outputs and every reference), e.g. to give outputs stable names.
void rename_values(mil::Function& f, const std::map<std::string, std::string>& renames);

}  // namespace ironmill::templates
