#include "formats/hf/model_config.h"

#include <cmath>

#include "formats/hf/json_file.h"

namespace ironmill::formats::hf {
namespace {

using nlohmann::json;

struct ModelTypeEntry {
  std::string_view name;
  ModelFamily family;
};
constexpr ModelTypeEntry kModelTypes[] = {
    {"llama", ModelFamily::kLlama},         {"llama2", ModelFamily::kLlama},
    {"llama3", ModelFamily::kLlama},        {"codellama", ModelFamily::kLlama},
    {"mistral", ModelFamily::kMistral},     {"qwen2", ModelFamily::kQwen2},
    {"qwen3", ModelFamily::kQwen3},         {"qwen3_5", ModelFamily::kQwen3_5},
    {"qwen3_5_text", ModelFamily::kQwen3_5}, {"qwen35", ModelFamily::kQwen3_5},
    {"qwen3.5", ModelFamily::kQwen3_5},     {"gemma", ModelFamily::kGemma},
    {"gemma2", ModelFamily::kGemma2},       {"gemma3", ModelFamily::kGemma3},
    {"gemma3_text", ModelFamily::kGemma3},  {"gemma4", ModelFamily::kGemma4},
    {"gemma4_text", ModelFamily::kGemma4},  {"deepseek_v3", ModelFamily::kDeepseekV3},
};
constexpr std::string_view kArchitectures[] = {
    "LlamaForCausalLM",      "MistralForCausalLM",     "Qwen2ForCausalLM",
    "Qwen3ForCausalLM",      "Qwen3_5ForCausalLM",     "Qwen3_5ForConditionalGeneration",
    "GemmaForCausalLM",      "Gemma2ForCausalLM",      "Gemma3ForCausalLM",
    "Gemma3ForConditionalGeneration", "Gemma4ForCausalLM", "Gemma4ForConditionalGeneration",
    "DeepseekV3ForCausalLM",
};
constexpr std::string_view kRopeTypes[] = {"default", "linear", "dynamic", "yarn", "longrope", "llama3", "proportional"};

bool is_gemma(ModelFamily f) {
  return f == ModelFamily::kGemma || f == ModelFamily::kGemma2 || f == ModelFamily::kGemma3 ||
         f == ModelFamily::kGemma4;
}

// Typed access to one JSON object; `prefix` ("text_config.") and `source` go into messages.
class Fields {
 public:
  Fields(const json& obj, std::string source, std::string prefix)
      : obj_(obj), source_(std::move(source)), prefix_(std::move(prefix)) {}

  const json* find(std::string_view key) const {
    auto it = obj_.find(key);
    return (it == obj_.end() || it->is_null()) ? nullptr : &*it;
  }
  bool has(std::string_view key) const { return find(key) != nullptr; }

  Status missing(std::string_view key) const {
    return invalid_argument(source_ + ": missing required field '" + name(key) + "'");
  }
  Status bad(std::string_view key, const std::string& what) const {
    return invalid_argument(source_ + ": field '" + name(key) + "' " + what);
  }
  Status bad_type(std::string_view key, const json& v, const char* expected) const {
    return bad(key, std::string("must be ") + expected + ", got " + json_type_name(v));
  }

  Result<std::optional<int64_t>> opt_int(std::string_view key) const {
    const json* v = find(key);
    if (!v) return std::optional<int64_t>();
    if (v->is_number_integer()) return std::optional<int64_t>(v->get<int64_t>());
    if (v->is_number_float()) {  // 256.0 written by some exporters
      const double d = v->get<double>();
      if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9e15)
        return std::optional<int64_t>(static_cast<int64_t>(d));
    }
    return bad_type(key, *v, "an integer");
  }
  Result<int64_t> int_or(std::string_view key, int64_t fallback) const {
    IM_ASSIGN_OR_RETURN(auto v, opt_int(key));
    return v.value_or(fallback);
  }
  Result<int64_t> req_int(std::string_view key) const {
    IM_ASSIGN_OR_RETURN(auto v, opt_int(key));
    if (!v) return missing(key);
    return *v;
  }
  // A required integer > 0.
  Result<int64_t> req_positive(std::string_view key) const {
    IM_ASSIGN_OR_RETURN(int64_t v, req_int(key));
    if (v <= 0) return bad(key, "must be positive, got " + std::to_string(v));
    return v;
  }
  Result<std::optional<double>> opt_double(std::string_view key) const {
    const json* v = find(key);
    if (!v) return std::optional<double>();
    if (!v->is_number()) return bad_type(key, *v, "a number");
    return std::optional<double>(v->get<double>());
  }
  Result<double> double_or(std::string_view key, double fallback) const {
    IM_ASSIGN_OR_RETURN(auto v, opt_double(key));
    return v.value_or(fallback);
  }
  Result<bool> bool_or(std::string_view key, bool fallback) const {
    const json* v = find(key);
    if (!v) return fallback;
    if (!v->is_boolean()) return bad_type(key, *v, "a boolean");
    return v->get<bool>();
  }
  Result<std::string> string_or(std::string_view key, std::string fallback) const {
    const json* v = find(key);
    if (!v) return fallback;
    if (!v->is_string()) return bad_type(key, *v, "a string");
    return v->get<std::string>();
  }

  std::string name(std::string_view key) const { return prefix_ + std::string(key); }
  const std::string& source() const { return source_; }
  const std::string& prefix() const { return prefix_; }
  const json& obj() const { return obj_; }

 private:
  const json& obj_;
  std::string source_, prefix_;
};

Result<LayerType> parse_layer_type(const std::string& s, const Fields& f, const std::string& field) {
  if (s == "full_attention") return LayerType::kFullAttention;
  if (s == "sliding_attention") return LayerType::kSlidingAttention;
  if (s == "linear_attention") return LayerType::kLinearAttention;
  return unsupported(f.source() + ": field '" + field + "': unknown layer type '" + s + "'");
}

// One rope dict (`rope_parameters` or its per-layer-type entry, or old `rope_scaling`).
Status parse_rope_dict(const Fields& d, RopeParameters& rope) {
  IM_ASSIGN_OR_RETURN(rope.theta, d.double_or("rope_theta", rope.theta));
  // Old files say "type", newer "rope_type".
  IM_ASSIGN_OR_RETURN(std::string type, d.string_or("type", rope.type));
  IM_ASSIGN_OR_RETURN(rope.type, d.string_or("rope_type", type));
  bool known = false;
  for (auto t : kRopeTypes) known |= rope.type == t;
  if (!known) return d.bad("rope_type", "names unknown RoPE type '" + rope.type + "'");
  IM_ASSIGN_OR_RETURN(rope.partial_rotary_factor, d.double_or("partial_rotary_factor", rope.partial_rotary_factor));
  if (!(rope.partial_rotary_factor > 0.0 && rope.partial_rotary_factor <= 1.0))
    return d.bad("partial_rotary_factor", "must be in (0, 1], got " + std::to_string(rope.partial_rotary_factor));
  IM_ASSIGN_OR_RETURN(rope.factor, d.opt_double("factor"));
  IM_ASSIGN_OR_RETURN(rope.low_freq_factor, d.opt_double("low_freq_factor"));
  IM_ASSIGN_OR_RETURN(rope.high_freq_factor, d.opt_double("high_freq_factor"));
  IM_ASSIGN_OR_RETURN(rope.original_max_position_embeddings, d.opt_int("original_max_position_embeddings"));
  IM_ASSIGN_OR_RETURN(rope.beta_fast, d.opt_double("beta_fast"));
  IM_ASSIGN_OR_RETURN(rope.beta_slow, d.opt_double("beta_slow"));
  IM_ASSIGN_OR_RETURN(rope.attention_factor, d.opt_double("attention_factor"));
  IM_ASSIGN_OR_RETURN(rope.mscale, d.opt_double("mscale"));
  IM_ASSIGN_OR_RETURN(rope.mscale_all_dim, d.opt_double("mscale_all_dim"));
  for (auto [key, out] : {std::pair{"short_factor", &rope.short_factor}, std::pair{"long_factor", &rope.long_factor}}) {
    const json* v = d.find(key);
    if (!v) continue;
    if (!v->is_array()) return d.bad_type(key, *v, "an array of numbers");
    for (const json& x : *v) {
      if (!x.is_number()) return d.bad(key, "must hold numbers only");
      out->push_back(x.get<double>());
    }
  }
  if (rope.type == "llama3" && (!rope.factor || !rope.low_freq_factor || !rope.high_freq_factor ||
                                !rope.original_max_position_embeddings))
    return d.bad("rope_type", "is llama3 but factor, low_freq_factor, high_freq_factor or "
                              "original_max_position_embeddings is missing");
  if ((rope.type == "linear" || rope.type == "dynamic" || rope.type == "yarn") && !rope.factor)
    return d.missing("factor");
  return Status::Ok();
}

Status parse_rope(const Fields& f, ModelConfig& c) {
  RopeParameters base;
  IM_ASSIGN_OR_RETURN(base.theta, f.double_or("rope_theta", 10000.0));
  IM_ASSIGN_OR_RETURN(base.partial_rotary_factor, f.double_or("partial_rotary_factor", 1.0));
  IM_ASSIGN_OR_RETURN(c.rope_interleave, f.bool_or("rope_interleave", false));

  if (const json* rp = f.find("rope_parameters")) {
    if (!rp->is_object()) return f.bad_type("rope_parameters", *rp, "an object");
    bool keyed = false;
    for (auto it = rp->begin(); it != rp->end(); ++it) keyed |= it.value().is_object();
    if (keyed) {
      // {"full_attention": {...}, "sliding_attention": {...}}
      for (auto it = rp->begin(); it != rp->end(); ++it) {
        const std::string field = f.name("rope_parameters") + "." + it.key();
        if (!it.value().is_object())
          return invalid_argument(f.source() + ": field '" + field + "' must be an object (rope_parameters is keyed by layer type)");
        IM_ASSIGN_OR_RETURN(LayerType t, parse_layer_type(it.key(), f, f.name("rope_parameters")));
        RopeParameters r;  // each layer type stands alone: no top-level partial factor leaks in
        r.theta = base.theta;
        IM_RETURN_IF_ERROR(parse_rope_dict(Fields(it.value(), f.source(), field + "."), r));
        c.rope_by_layer_type[t] = r;
      }
      auto full = c.rope_by_layer_type.find(LayerType::kFullAttention);
      c.rope = full != c.rope_by_layer_type.end() ? full->second : c.rope_by_layer_type.begin()->second;
      return Status::Ok();
    }
    c.rope = base;
    return parse_rope_dict(Fields(*rp, f.source(), f.name("rope_parameters") + "."), c.rope);
  }
  c.rope = base;
  if (const json* rs = f.find("rope_scaling")) {
    if (!rs->is_object()) return f.bad_type("rope_scaling", *rs, "an object");
    IM_RETURN_IF_ERROR(parse_rope_dict(Fields(*rs, f.source(), f.name("rope_scaling") + "."), c.rope));
  }
  // Gemma 3's old spelling of the sliding layers' base.
  IM_ASSIGN_OR_RETURN(auto local_base, f.opt_double("rope_local_base_freq"));
  if (local_base) {
    c.rope_by_layer_type[LayerType::kFullAttention] = c.rope;
    RopeParameters local;
    local.theta = *local_base;
    c.rope_by_layer_type[LayerType::kSlidingAttention] = local;
  }
  return Status::Ok();
}

// The layer types when `layer_types` is absent: the rule of each family's HF config class.
Status derive_layer_types(const Fields& f, ModelConfig& c) {
  const int64_t n = c.num_hidden_layers;
  c.layer_types.assign(n, LayerType::kFullAttention);
  switch (c.family) {
    case ModelFamily::kMistral:
      if (c.sliding_window) c.layer_types.assign(n, LayerType::kSlidingAttention);
      break;
    case ModelFamily::kQwen2:
    case ModelFamily::kQwen3: {
      IM_ASSIGN_OR_RETURN(bool use_sw, f.bool_or("use_sliding_window", false));
      IM_ASSIGN_OR_RETURN(int64_t max_window_layers, f.int_or("max_window_layers", n));
      if (use_sw && c.sliding_window)
        for (int64_t i = max_window_layers; i < n; ++i) c.layer_types[i] = LayerType::kSlidingAttention;
      break;
    }
    case ModelFamily::kGemma2:
      for (int64_t i = 0; i < n; ++i)
        if ((i + 1) % 2) c.layer_types[i] = LayerType::kSlidingAttention;
      break;
    case ModelFamily::kGemma3: {
      IM_ASSIGN_OR_RETURN(int64_t pattern, f.int_or("_sliding_window_pattern", 6));
      IM_ASSIGN_OR_RETURN(pattern, f.int_or("sliding_window_pattern", pattern));
      if (pattern <= 0) return f.bad("sliding_window_pattern", "must be positive");
      for (int64_t i = 0; i < n; ++i)
        if ((i + 1) % pattern) c.layer_types[i] = LayerType::kSlidingAttention;
      break;
    }
    case ModelFamily::kGemma4:
      return f.missing("layer_types");  // no safe default: global layers differ in shape
    case ModelFamily::kQwen3_5: {
      IM_ASSIGN_OR_RETURN(auto interval, f.opt_int("full_attention_interval"));
      if (interval) {
        if (*interval <= 0) return f.bad("full_attention_interval", "must be positive");
        for (int64_t i = 0; i < n; ++i)
          if ((i + 1) % *interval) c.layer_types[i] = LayerType::kLinearAttention;
      }
      break;
    }
    default:
      break;
  }
  return Status::Ok();
}

Status parse_layer_types(const Fields& f, ModelConfig& c) {
  const json* lt = f.find("layer_types");
  if (!lt) return derive_layer_types(f, c);
  if (!lt->is_array()) return f.bad_type("layer_types", *lt, "an array of strings");
  if (static_cast<int64_t>(lt->size()) != c.num_hidden_layers)
    return f.bad("layer_types", "has " + std::to_string(lt->size()) + " entries but num_hidden_layers is " +
                                    std::to_string(c.num_hidden_layers));
  c.layer_types_explicit = true;
  for (size_t i = 0; i < lt->size(); ++i) {
    const json& v = (*lt)[i];
    const std::string field = f.name("layer_types") + "[" + std::to_string(i) + "]";
    if (!v.is_string()) return invalid_argument(f.source() + ": field '" + field + "' must be a string");
    IM_ASSIGN_OR_RETURN(LayerType t, parse_layer_type(v.get<std::string>(), f, field));
    c.layer_types.push_back(t);
  }
  return Status::Ok();
}

Status parse_mla_moe(const Fields& f, ModelConfig& c) {
  if (f.has("kv_lora_rank")) {
    MlaConfig m;
    IM_ASSIGN_OR_RETURN(m.q_lora_rank, f.opt_int("q_lora_rank"));
    IM_ASSIGN_OR_RETURN(m.kv_lora_rank, f.req_positive("kv_lora_rank"));
    IM_ASSIGN_OR_RETURN(m.qk_rope_head_dim, f.req_positive("qk_rope_head_dim"));
    IM_ASSIGN_OR_RETURN(m.qk_nope_head_dim, f.req_positive("qk_nope_head_dim"));
    IM_ASSIGN_OR_RETURN(m.v_head_dim, f.req_positive("v_head_dim"));
    m.qk_head_dim = m.qk_nope_head_dim + m.qk_rope_head_dim;
    IM_ASSIGN_OR_RETURN(auto qk, f.opt_int("qk_head_dim"));
    if (qk && *qk != m.qk_head_dim)
      return f.bad("qk_head_dim", "is " + std::to_string(*qk) + " but qk_nope_head_dim + qk_rope_head_dim is " +
                                      std::to_string(m.qk_head_dim));
    c.mla = m;
  }
  if (f.has("n_routed_experts")) {  // DeepSeek spelling
    MoeConfig m;
    IM_ASSIGN_OR_RETURN(m.num_experts, f.req_positive("n_routed_experts"));
    IM_ASSIGN_OR_RETURN(m.num_experts_per_tok, f.req_positive("num_experts_per_tok"));
    IM_ASSIGN_OR_RETURN(m.num_shared_experts, f.int_or("n_shared_experts", 0));
    IM_ASSIGN_OR_RETURN(m.moe_intermediate_size, f.req_positive("moe_intermediate_size"));
    IM_ASSIGN_OR_RETURN(m.first_k_dense_replace, f.int_or("first_k_dense_replace", 0));
    IM_ASSIGN_OR_RETURN(m.moe_layer_freq, f.int_or("moe_layer_freq", 1));
    IM_ASSIGN_OR_RETURN(m.n_group, f.int_or("n_group", 1));
    IM_ASSIGN_OR_RETURN(m.topk_group, f.int_or("topk_group", 1));
    IM_ASSIGN_OR_RETURN(m.norm_topk_prob, f.bool_or("norm_topk_prob", true));
    IM_ASSIGN_OR_RETURN(m.routed_scaling_factor, f.double_or("routed_scaling_factor", 1.0));
    IM_ASSIGN_OR_RETURN(m.scoring_func, f.string_or("scoring_func", "sigmoid"));
    IM_ASSIGN_OR_RETURN(m.topk_method, f.string_or("topk_method", "noaux_tc"));
    if (m.num_experts_per_tok > m.num_experts)
      return f.bad("num_experts_per_tok", "is " + std::to_string(m.num_experts_per_tok) + " but there are only " +
                                              std::to_string(m.num_experts) + " routed experts");
    if (m.moe_layer_freq <= 0) return f.bad("moe_layer_freq", "must be positive");
    c.moe = m;
  }
  IM_ASSIGN_OR_RETURN(bool moe_block, f.bool_or("enable_moe_block", false));
  if (moe_block) {  // Gemma 4 spelling
    MoeConfig m;
    IM_ASSIGN_OR_RETURN(m.num_experts, f.req_positive("num_experts"));
    IM_ASSIGN_OR_RETURN(m.num_experts_per_tok, f.req_positive("top_k_experts"));
    IM_ASSIGN_OR_RETURN(m.moe_intermediate_size, f.req_positive("moe_intermediate_size"));
    c.moe = m;
  }
  return Status::Ok();
}

// per_layer_config: {"2": {"head_dim": 512}, ...}
Status apply_per_layer_config(const Fields& f, ModelConfig& c) {
  const json* plc = f.find("per_layer_config");
  if (!plc) return Status::Ok();
  if (!plc->is_object()) return f.bad_type("per_layer_config", *plc, "an object");
  for (auto it = plc->begin(); it != plc->end(); ++it) {
    const std::string field = f.name("per_layer_config") + "." + it.key();
    int64_t index = -1;
    try {
      size_t used = 0;
      index = std::stoll(it.key(), &used);
      if (used != it.key().size()) index = -1;
    } catch (const std::exception&) {
      index = -1;
    }
    if (index < 0 || index >= c.num_hidden_layers)
      return invalid_argument(f.source() + ": field '" + field + "': key must be a layer index below " +
                              std::to_string(c.num_hidden_layers));
    if (!it.value().is_object()) return invalid_argument(f.source() + ": field '" + field + "' must be an object");
    LayerConfig& layer = c.layers[index];
    Fields lf(it.value(), f.source(), field + ".");
    for (auto kv = it.value().begin(); kv != it.value().end(); ++kv) {
      int64_t* target = nullptr;
      if (kv.key() == "head_dim") target = &layer.head_dim;
      else if (kv.key() == "num_key_value_heads") target = &layer.num_key_value_heads;
      else if (kv.key() == "num_attention_heads") target = &layer.num_attention_heads;
      else if (kv.key() == "intermediate_size") target = &layer.intermediate_size;
      else return unsupported(f.source() + ": field '" + field + "." + kv.key() + "': unknown per-layer key");
      IM_ASSIGN_OR_RETURN(*target, lf.req_positive(kv.key()));
    }
  }
  return Status::Ok();
}

Status resolve_layers(const Fields& f, ModelConfig& c) {
  IM_ASSIGN_OR_RETURN(auto global_head_dim, f.opt_int("global_head_dim"));
  IM_ASSIGN_OR_RETURN(auto global_kv_heads, f.opt_int("num_global_key_value_heads"));
  const int64_t n = c.num_hidden_layers;
  if (c.num_kv_shared_layers < 0 || c.num_kv_shared_layers >= n)
    return f.bad("num_kv_shared_layers", "is " + std::to_string(c.num_kv_shared_layers) + " for " +
                                             std::to_string(n) + " layers");
  const int64_t first_shared = n - c.num_kv_shared_layers;
  c.layers.resize(n);
  for (int64_t i = 0; i < n; ++i) {
    LayerConfig& l = c.layers[i];
    l.type = c.layer_types[i];
    l.num_attention_heads = c.num_attention_heads;
    l.num_key_value_heads = c.num_key_value_heads;
    l.head_dim = c.head_dim;
    l.intermediate_size = c.intermediate_size;
    l.rope = c.rope_for(l.type);
    l.kv_source_layer = i;
    if (l.type == LayerType::kFullAttention) {
      if (global_head_dim) l.head_dim = *global_head_dim;
      if (global_kv_heads) l.num_key_value_heads = *global_kv_heads;
    }
    if (l.type == LayerType::kSlidingAttention) {
      if (!c.sliding_window)
        return invalid_argument(f.source() + ": layer " + std::to_string(i) +
                                " is sliding_attention but field '" + f.name("sliding_window") + "' is missing");
      l.sliding_window = c.sliding_window;
    }
    if (i >= first_shared) {
      int64_t src = -1;
      for (int64_t j = first_shared - 1; j >= 0; --j)
        if (c.layer_types[j] == l.type) {
          src = j;
          break;
        }
      if (src < 0)
        return invalid_argument(f.source() + ": layer " + std::to_string(i) + " shares KV (num_kv_shared_layers) but no "
                                "earlier layer has its type " + std::string(to_string(l.type)));
      l.kv_source_layer = src;
      if (c.use_double_wide_mlp) l.intermediate_size *= 2;
    }
    if (c.moe) {
      if (c.family == ModelFamily::kGemma4) l.moe = true;
      else l.moe = i >= c.moe->first_k_dense_replace && i % c.moe->moe_layer_freq == 0;
    }
  }
  IM_RETURN_IF_ERROR(apply_per_layer_config(f, c));
  for (int64_t i = 0; i < n; ++i) {
    const LayerConfig& l = c.layers[i];
    if (l.type != LayerType::kLinearAttention && l.num_attention_heads % l.num_key_value_heads != 0)
      return invalid_argument(f.source() + ": layer " + std::to_string(i) + ": " + std::to_string(l.num_attention_heads) +
                              " attention heads are not a multiple of " + std::to_string(l.num_key_value_heads) +
                              " key/value heads");
  }
  return Status::Ok();
}

Result<ModelFamily> family_of(const std::string& model_type, const std::string& source, const std::string& field) {
  for (const auto& e : kModelTypes)
    if (e.name == model_type) return e.family;
  std::string known;
  for (const auto& e : kModelTypes) known += (known.empty() ? "" : ", ") + std::string(e.name);
  return unsupported(source + ": field '" + field + "': unknown model_type '" + model_type + "' (known: " + known + ")");
}

Status parse_text_config(const Fields& f, const Fields& top, ModelConfig& c) {
  IM_ASSIGN_OR_RETURN(c.hidden_size, f.req_positive("hidden_size"));
  IM_ASSIGN_OR_RETURN(c.intermediate_size, f.req_positive("intermediate_size"));
  IM_ASSIGN_OR_RETURN(c.num_hidden_layers, f.req_positive("num_hidden_layers"));
  IM_ASSIGN_OR_RETURN(c.num_attention_heads, f.req_positive("num_attention_heads"));
  IM_ASSIGN_OR_RETURN(c.vocab_size, f.req_positive("vocab_size"));
  IM_ASSIGN_OR_RETURN(c.num_key_value_heads, f.int_or("num_key_value_heads", c.num_attention_heads));
  if (c.num_key_value_heads <= 0) return f.bad("num_key_value_heads", "must be positive");
  IM_ASSIGN_OR_RETURN(auto head_dim, f.opt_int("head_dim"));
  c.head_dim_explicit = head_dim.has_value();
  if (head_dim) {
    if (*head_dim <= 0) return f.bad("head_dim", "must be positive");
    c.head_dim = *head_dim;
  } else {
    if (c.hidden_size % c.num_attention_heads)
      return f.bad("hidden_size", "(" + std::to_string(c.hidden_size) + ") is not divisible by num_attention_heads (" +
                                      std::to_string(c.num_attention_heads) + ") and head_dim is absent");
    c.head_dim = c.hidden_size / c.num_attention_heads;
  }
  IM_ASSIGN_OR_RETURN(c.max_position_embeddings, f.int_or("max_position_embeddings", 0));
  IM_ASSIGN_OR_RETURN(c.rms_norm_eps, f.double_or("rms_norm_eps", 1e-6));
  const std::string default_act = is_gemma(c.family) ? "gelu_pytorch_tanh" : "silu";
  IM_ASSIGN_OR_RETURN(std::string act, f.string_or("hidden_activation", default_act));
  IM_ASSIGN_OR_RETURN(c.hidden_act, f.string_or("hidden_act", act));
  // Gemma ties by default (HF GemmaConfig); the others do not.
  IM_ASSIGN_OR_RETURN(bool tie_top, top.bool_or("tie_word_embeddings", is_gemma(c.family)));
  IM_ASSIGN_OR_RETURN(c.tie_word_embeddings, f.bool_or("tie_word_embeddings", tie_top));
  IM_ASSIGN_OR_RETURN(c.attention_bias, f.bool_or("attention_bias", false));
  c.qkv_bias = c.attention_bias || c.family == ModelFamily::kQwen2;  // Qwen2 q/k/v always have biases
  IM_ASSIGN_OR_RETURN(c.mlp_bias, f.bool_or("mlp_bias", false));
  IM_ASSIGN_OR_RETURN(std::string top_dtype, top.string_or("torch_dtype", ""));
  IM_ASSIGN_OR_RETURN(top_dtype, top.string_or("dtype", top_dtype));
  IM_ASSIGN_OR_RETURN(c.dtype, f.string_or("torch_dtype", top_dtype));
  IM_ASSIGN_OR_RETURN(c.dtype, f.string_or("dtype", c.dtype));
  IM_ASSIGN_OR_RETURN(c.bos_token_id, f.opt_int("bos_token_id"));
  IM_ASSIGN_OR_RETURN(c.pad_token_id, f.opt_int("pad_token_id"));
  if (const json* eos = f.find("eos_token_id")) {
    if (eos->is_array()) {
      for (const json& e : *eos) {
        if (!e.is_number_integer()) return f.bad("eos_token_id", "must hold integers only");
        c.eos_token_ids.push_back(e.get<int64_t>());
      }
    } else {
      IM_ASSIGN_OR_RETURN(auto id, f.opt_int("eos_token_id"));
      c.eos_token_ids.push_back(*id);
    }
  }

  IM_RETURN_IF_ERROR(parse_rope(f, c));
  IM_ASSIGN_OR_RETURN(c.sliding_window, f.opt_int("sliding_window"));
  if (c.sliding_window && *c.sliding_window <= 0) return f.bad("sliding_window", "must be positive");
  IM_RETURN_IF_ERROR(parse_layer_types(f, c));
  IM_ASSIGN_OR_RETURN(c.attn_logit_softcapping, f.opt_double("attn_logit_softcapping"));
  IM_ASSIGN_OR_RETURN(c.final_logit_softcapping, f.opt_double("final_logit_softcapping"));
  IM_ASSIGN_OR_RETURN(c.query_pre_attn_scalar, f.opt_double("query_pre_attn_scalar"));

  IM_RETURN_IF_ERROR(parse_mla_moe(f, c));
  bool any_linear = false;
  for (LayerType t : c.layer_types) any_linear |= t == LayerType::kLinearAttention;
  if (any_linear) {
    LinearAttentionConfig la;
    IM_ASSIGN_OR_RETURN(la.key_head_dim, f.req_positive("linear_key_head_dim"));
    IM_ASSIGN_OR_RETURN(la.value_head_dim, f.req_positive("linear_value_head_dim"));
    IM_ASSIGN_OR_RETURN(la.num_key_heads, f.req_positive("linear_num_key_heads"));
    IM_ASSIGN_OR_RETURN(la.num_value_heads, f.req_positive("linear_num_value_heads"));
    IM_ASSIGN_OR_RETURN(la.conv_kernel_dim, f.req_positive("linear_conv_kernel_dim"));
    if (la.num_value_heads % la.num_key_heads)
      return f.bad("linear_num_value_heads", "(" + std::to_string(la.num_value_heads) +
                                                 ") is not a multiple of linear_num_key_heads (" +
                                                 std::to_string(la.num_key_heads) + ")");
    c.linear_attention = la;
  }
  // Qwen3.5's full-attention layers gate their output (q_proj is 2x wide) unless the file says not.
  IM_ASSIGN_OR_RETURN(c.attn_output_gate, f.bool_or("attn_output_gate", c.family == ModelFamily::kQwen3_5));

  IM_ASSIGN_OR_RETURN(auto ple, f.opt_int("hidden_size_per_layer_input"));
  if (ple && *ple > 0) {
    PerLayerInputConfig p;
    p.hidden_size = *ple;
    IM_ASSIGN_OR_RETURN(p.vocab_size, f.int_or("vocab_size_per_layer_input", c.vocab_size));
    if (p.vocab_size <= 0) return f.bad("vocab_size_per_layer_input", "must be positive");
    c.per_layer_input = p;
  }
  IM_ASSIGN_OR_RETURN(c.num_kv_shared_layers, f.int_or("num_kv_shared_layers", 0));
  IM_ASSIGN_OR_RETURN(c.use_double_wide_mlp, f.bool_or("use_double_wide_mlp", false));
  IM_ASSIGN_OR_RETURN(c.attention_k_eq_v, f.bool_or("attention_k_eq_v", false));
  return resolve_layers(f, c);
}

}  // namespace

std::string_view to_string(ModelFamily f) {
  switch (f) {
    case ModelFamily::kLlama: return "llama";
    case ModelFamily::kMistral: return "mistral";
    case ModelFamily::kQwen2: return "qwen2";
    case ModelFamily::kQwen3: return "qwen3";
    case ModelFamily::kQwen3_5: return "qwen3_5";
    case ModelFamily::kGemma: return "gemma";
    case ModelFamily::kGemma2: return "gemma2";
    case ModelFamily::kGemma3: return "gemma3";
    case ModelFamily::kGemma4: return "gemma4";
    case ModelFamily::kDeepseekV3: return "deepseek_v3";
  }
  return "?";
}

std::string_view to_string(LayerType t) {
  switch (t) {
    case LayerType::kFullAttention: return "full_attention";
    case LayerType::kSlidingAttention: return "sliding_attention";
    case LayerType::kLinearAttention: return "linear_attention";
  }
  return "?";
}

const RopeParameters& ModelConfig::rope_for(LayerType t) const {
  auto it = rope_by_layer_type.find(t);
  return it != rope_by_layer_type.end() ? it->second : rope;
}

Result<ModelConfig> parse_model_config(const json& root, const std::string& source) {
  if (!root.is_object()) return invalid_argument(source + ": expected a JSON object, got " + json_type_name(root));
  try {
    Fields top(root, source, "");
    const json* text = top.find("text_config");
    if (text && !text->is_object()) return top.bad_type("text_config", *text, "an object");
    Fields f(text ? *text : root, source, text ? "text_config." : "");

    ModelConfig c;
    c.source = source;
    c.raw = text ? *text : root;
    if (const json* a = top.find("architectures")) {
      if (!a->is_array()) return top.bad_type("architectures", *a, "an array of strings");
      for (const json& v : *a) {
        if (!v.is_string()) return top.bad("architectures", "must hold strings only");
        const std::string name = v.get<std::string>();
        bool known = false;
        for (auto k : kArchitectures) known |= name == k;
        if (!known) return unsupported(source + ": field 'architectures': unknown architecture '" + name + "'");
        c.architectures.push_back(name);
      }
    }
    // The text config's model_type wins ("gemma3_text" inside "gemma3").
    IM_ASSIGN_OR_RETURN(std::string top_type, top.string_or("model_type", ""));
    IM_ASSIGN_OR_RETURN(c.model_type, f.string_or("model_type", top_type));
    if (c.model_type.empty()) return f.missing("model_type");
    IM_ASSIGN_OR_RETURN(c.family, family_of(c.model_type, source, f.has("model_type") ? f.name("model_type") : "model_type"));
    IM_RETURN_IF_ERROR(parse_text_config(f, top, c));
    return c;
  } catch (const nlohmann::json::exception& e) {  // not expected after the type checks; never let one escape
    return internal_error(source + ": " + e.what());
  }
}

Result<ModelConfig> load_model_config(const std::filesystem::path& path) {
  std::error_code ec;
  const std::filesystem::path file = std::filesystem::is_directory(path, ec) ? path / "config.json" : path;
  IM_ASSIGN_OR_RETURN(json root, load_json_file(file));
  return parse_model_config(root, file.string());
}

}  // namespace ironmill::formats::hf
