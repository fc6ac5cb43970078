#include "formats/onnx/onnx_model.h"

#include <onnx/onnx_pb.h>

#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

namespace ironmill::formats::onnx {
namespace fs = std::filesystem;
using ::onnx::TensorProto;

namespace {

Result<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return io_error("cannot open '" + path + "'");
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return io_error("error reading '" + path + "'");
  return ss.str();
}

// True when `p` (already canonical) lies inside `dir` (canonical).
bool inside(const fs::path& p, const fs::path& dir) {
  auto rel = p.lexically_relative(dir);
  if (rel.empty()) return false;
  auto first = *rel.begin();
  return first != ".." && !rel.is_absolute();
}

Result<std::string> read_external(const TensorProto& t, const std::string& base_dir, size_t expected_bytes) {
  std::string location;
  int64_t offset = 0, length = -1;
  for (const auto& kv : t.external_data()) {
    try {
      if (kv.key() == "location") location = kv.value();
      else if (kv.key() == "offset") offset = std::stoll(kv.value());
      else if (kv.key() == "length") length = std::stoll(kv.value());
    } catch (...) {
      return parse_error("tensor '" + t.name() + "': external_data " + kv.key() + " = '" + kv.value() +
                         "' is not an integer");
    }
  }
  const std::string who = "tensor '" + t.name() + "'";
  if (location.empty()) return parse_error(who + ": external data without a 'location'");
  if (base_dir.empty()) return invalid_argument(who + ": external data '" + location + "' but the model has no directory");
  if (offset < 0 || length < -1) return parse_error(who + ": negative external data offset/length");
  fs::path loc(location);
  if (loc.is_absolute())
    return invalid_argument(who + ": external data path '" + location + "' is absolute; it must be relative to the model directory");
  std::error_code ec;
  fs::path dir = fs::weakly_canonical(fs::path(base_dir), ec);
  if (ec) return io_error(who + ": cannot resolve model directory '" + base_dir + "'");
  fs::path full = fs::weakly_canonical(dir / loc, ec);
  if (ec || !inside(full, dir))
    return invalid_argument(who + ": external data path '" + location + "' escapes the model directory '" +
                            dir.string() + "'");
  if (!fs::is_regular_file(full, ec))
    return not_found(who + ": external data file '" + location + "' not found in '" + dir.string() + "'");
  auto size = fs::file_size(full, ec);
  if (ec) return io_error(who + ": cannot stat '" + full.string() + "'");
  size_t want = length >= 0 ? static_cast<size_t>(length) : expected_bytes;
  if (static_cast<uint64_t>(offset) > size || want > size - static_cast<uint64_t>(offset))
    return parse_error(who + ": external data '" + location + "' needs bytes [" + std::to_string(offset) + ", " +
                       std::to_string(offset + want) + ") but the file has " + std::to_string(size));
  std::ifstream in(full, std::ios::binary);
  if (!in) return io_error(who + ": cannot open '" + full.string() + "'");
  in.seekg(offset);
  std::string bytes(want, '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(want));
  if (!in) return io_error(who + ": short read from '" + full.string() + "'");
  return bytes;
}

template <class Field>
Status check_count(const std::string& who, const Field& f, int64_t n, const char* field) {
  if (static_cast<int64_t>(f.size()) != n)
    return parse_error(who + ": " + field + " holds " + std::to_string(f.size()) + " values, shape needs " +
                       std::to_string(n));
  return Status::Ok();
}

}  // namespace

const ::onnx::GraphProto& OnnxModel::graph() const { return proto->graph(); }

std::optional<mil::DType> dtype_from_onnx(int code) {
  using mil::DType;
  switch (code) {
    case TensorProto::FLOAT: return DType::kFp32;
    case TensorProto::UINT8: return DType::kUint8;
    case TensorProto::INT8: return DType::kInt8;
    case TensorProto::UINT16: return DType::kUint16;
    case TensorProto::INT16: return DType::kInt16;
    case TensorProto::INT32: return DType::kInt32;
    case TensorProto::INT64: return DType::kInt64;
    case TensorProto::BOOL: return DType::kBool;
    case TensorProto::FLOAT16: return DType::kFp16;
    case TensorProto::DOUBLE: return DType::kFp64;
    case TensorProto::UINT32: return DType::kUint32;
    case TensorProto::UINT64: return DType::kUint64;
    case TensorProto::BFLOAT16: return DType::kBf16;
    case TensorProto::STRING: return DType::kString;
    default: return std::nullopt;
  }
}

std::string onnx_dtype_name(int code) {
  if (TensorProto::DataType_IsValid(code)) return TensorProto::DataType_Name(static_cast<TensorProto::DataType>(code));
  return "dtype#" + std::to_string(code);
}

Result<mil::Tensor> tensor_from_proto(const TensorProto& t, const std::string& base_dir) {
  const std::string who = "tensor '" + t.name() + "'";
  auto dt = dtype_from_onnx(t.data_type());
  if (!dt) return unsupported(who + ": element type " + onnx_dtype_name(t.data_type()) + " is not supported");
  mil::Shape shape;
  int64_t n = 1;
  for (int64_t d : t.dims()) {
    if (d < 0) return parse_error(who + ": negative dimension " + std::to_string(d));
    if (d > 0 && n > std::numeric_limits<int32_t>::max() / d) return parse_error(who + ": too many elements");
    shape.push_back(d);
    n *= d;
  }
  if (t.has_segment()) return unsupported(who + ": segmented tensors are not supported");
  if (*dt == mil::DType::kString) {
    IM_RETURN_IF_ERROR(check_count(who, t.string_data(), n, "string_data"));
    return mil::Tensor::from_strings(shape, {t.string_data().begin(), t.string_data().end()});
  }
  mil::Tensor out(*dt, shape);
  const size_t nbytes = out.nbytes();
  auto copy_bytes = [&](const std::string& bytes) -> Status {
    if (bytes.size() != nbytes)
      return parse_error(who + ": raw data has " + std::to_string(bytes.size()) + " bytes, " + onnx_dtype_name(t.data_type()) +
                         mil::shape_to_string(shape) + " needs " + std::to_string(nbytes));
    if (nbytes) std::memcpy(out.mutable_raw(), bytes.data(), nbytes);  // ONNX raw data is little-endian, as is x86/arm
    return Status::Ok();
  };
  if (t.data_location() == TensorProto::EXTERNAL) {
    IM_ASSIGN_OR_RETURN(auto bytes, read_external(t, base_dir, nbytes));
    IM_RETURN_IF_ERROR(copy_bytes(bytes));
    return out;
  }
  if (t.has_raw_data()) {
    IM_RETURN_IF_ERROR(copy_bytes(t.raw_data()));
    return out;
  }
  using mil::DType;
  switch (*dt) {
    case DType::kFp32: {
      IM_RETURN_IF_ERROR(check_count(who, t.float_data(), n, "float_data"));
      std::memcpy(out.mutable_raw(), t.float_data().data(), nbytes);
      break;
    }
    case DType::kFp64: {
      IM_RETURN_IF_ERROR(check_count(who, t.double_data(), n, "double_data"));
      std::memcpy(out.mutable_raw(), t.double_data().data(), nbytes);
      break;
    }
    case DType::kInt64: {
      IM_RETURN_IF_ERROR(check_count(who, t.int64_data(), n, "int64_data"));
      std::memcpy(out.mutable_raw(), t.int64_data().data(), nbytes);
      break;
    }
    case DType::kUint32: case DType::kUint64: {
      IM_RETURN_IF_ERROR(check_count(who, t.uint64_data(), n, "uint64_data"));
      for (int64_t i = 0; i < n; ++i) out.set_i64(i, static_cast<int64_t>(t.uint64_data(i)));
      break;
    }
    case DType::kFp16: case DType::kBf16: {
      // int32_data carries the 16-bit patterns.
      IM_RETURN_IF_ERROR(check_count(who, t.int32_data(), n, "int32_data"));
      auto* p = out.mutable_data<uint16_t>();
      for (int64_t i = 0; i < n; ++i) p[i] = static_cast<uint16_t>(t.int32_data(i));
      break;
    }
    default: {  // int32, int16, int8, uint16, uint8, bool: int32_data
      IM_RETURN_IF_ERROR(check_count(who, t.int32_data(), n, "int32_data"));
      for (int64_t i = 0; i < n; ++i) out.set_i64(i, t.int32_data(i));
      break;
    }
  }
  return out;
}

Result<mil::Tensor> load_tensor_pb(const std::string& path) {
  IM_ASSIGN_OR_RETURN(auto bytes, read_file(path));
  TensorProto t;
  if (!t.ParseFromString(bytes)) return parse_error("'" + path + "' is not a serialized onnx.TensorProto");
  auto r = tensor_from_proto(t, fs::path(path).parent_path().string());
  if (!r.ok()) return r.status().with_context(path);
  return r;
}

Result<std::vector<const ::onnx::NodeProto*>> topological_order(const ::onnx::GraphProto& g) {
  std::set<std::string> available;
  for (const auto& i : g.input()) available.insert(i.name());
  for (const auto& i : g.initializer()) available.insert(i.name());
  std::map<std::string, int> producer;
  for (int i = 0; i < g.node_size(); ++i)
    for (const auto& o : g.node(i).output()) {
      if (o.empty()) continue;
      if (available.count(o) || producer.count(o))
        return invalid_argument("value '" + o + "' is defined twice (node '" + g.node(i).name() + "', " +
                                g.node(i).op_type() + ")");
      producer[o] = i;
    }
  const int n = g.node_size();
  std::vector<int> pending(n, 0);
  std::vector<std::vector<int>> users(n);
  for (int i = 0; i < n; ++i) {
    const auto& node = g.node(i);
    for (const auto& in : node.input()) {
      if (in.empty() || available.count(in)) continue;
      auto it = producer.find(in);
      if (it == producer.end())
        return invalid_argument("node '" + node.name() + "' (" + node.op_type() + ") reads '" + in +
                                "', which no node, initializer or graph input produces");
      ++pending[i];
      users[it->second].push_back(i);
    }
  }
  std::vector<const ::onnx::NodeProto*> order;
  std::vector<int> ready;
  for (int i = n - 1; i >= 0; --i)
    if (pending[i] == 0) ready.push_back(i);
  // Keep the file's order where it is already valid: process the lowest index first.
  std::set<int> queue(ready.begin(), ready.end());
  while (!queue.empty()) {
    int i = *queue.begin();
    queue.erase(queue.begin());
    order.push_back(&g.node(i));
    for (int u : users[i])
      if (--pending[u] == 0) queue.insert(u);
  }
  if (static_cast<int>(order.size()) != n) {
    for (int i = 0; i < n; ++i)
      if (pending[i] > 0)
        return invalid_argument("graph has a cycle through node '" + g.node(i).name() + "' (" + g.node(i).op_type() + ")");
  }
  return order;
}

Result<OnnxModel> parse_model(const std::string& bytes, const std::string& base_dir, const std::string& label) {
  auto proto = std::make_shared<::onnx::ModelProto>();
  if (bytes.empty()) return parse_error(label + ": empty file, not an ONNX model");
  if (!proto->ParseFromString(bytes))
    return parse_error(label + ": not a valid ONNX ModelProto (truncated or not protobuf)");
  if (!proto->has_graph()) return parse_error(label + ": ModelProto has no graph");
  OnnxModel m;
  m.proto = proto;
  m.path = label;
  m.base_dir = base_dir;
  m.ir_version = proto->ir_version();
  if (m.ir_version < 1 || m.ir_version > 8)
    return unsupported(label + ": IR version " + std::to_string(m.ir_version) + " (supported: 1-8)");
  bool have_default = false;
  for (const auto& o : proto->opset_import()) {
    if (o.domain().empty() || o.domain() == "ai.onnx") {
      m.opset = static_cast<int>(o.version());
      have_default = true;
    } else {
      m.other_domains[o.domain()] = o.version();
    }
  }
  if (!have_default) m.opset = 1;  // IR < 3 models have no opset_import; they mean opset 1
  if (m.opset < kMinOpset || m.opset > kMaxOpset)
    return unsupported(label + ": opset " + std::to_string(m.opset) + " (supported: " + std::to_string(kMinOpset) + "-" +
                       std::to_string(kMaxOpset) + ")");
  auto order = topological_order(proto->graph());
  if (!order.ok()) return order.status().with_context(label);
  return m;
}

Result<OnnxModel> load_model(const std::string& path) {
  IM_ASSIGN_OR_RETURN(auto bytes, read_file(path));
  std::string dir = fs::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  return parse_model(bytes, dir, path);
}

}  // namespace ironmill::formats::onnx
