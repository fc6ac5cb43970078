// `ironmill inspect model.onnx [--format json]`: inputs, outputs, op histogram, parameter count, and
// which ops the ONNX frontend cannot convert (with the capability check's reason).
#include <onnx/onnx_pb.h>

#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "formats/onnx/onnx_model.h"
#include "formats/onnx/onnx_summary.h"
#include "frontends/onnx/onnx_importer.h"

namespace {
std::string dims_str(const std::vector<std::string>& d) {
  std::string s = "[";
  for (size_t i = 0; i < d.size(); ++i) s += (i ? ", " : "") + d[i];
  return s + "]";
}
}  // namespace

int cmd_inspect(const std::vector<std::string>& args) {
  std::string path, format = "text";
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--format" && i + 1 < args.size()) format = args[++i];
    else if (args[i] == "--json") format = "json";
    else if (path.empty()) path = args[i];
    else { std::cerr << "ironmill inspect: unexpected argument " << args[i] << "\n"; return 2; }
  }
  if (path.empty() || (format != "text" && format != "json")) {
    std::cerr << "usage: ironmill inspect MODEL.onnx [--format text|json]\n";
    return 2;
  }
  auto model = ironmill::formats::onnx::load_model(path);
  if (!model.ok()) {
    std::cerr << "ironmill: " << model.status().message() << "\n";
    return 1;
  }
  auto s = ironmill::formats::onnx::summarize(*model);
  std::map<std::string, std::string> unconvertible;  // op -> reason
  for (const auto& n : model->graph().node()) {
    std::string why = ironmill::frontends::onnx::check_node(n, model->opset);
    if (!why.empty()) unconvertible.emplace(n.op_type(), why);
  }
  if (format == "json") {
    nlohmann::json j;
    j["schema"] = "ironmill.inspect-onnx/1";
    j["path"] = path;
    j["ir_version"] = s.ir_version;
    j["opset"] = s.opset;
    j["producer"] = s.producer;
    auto io = [](const std::vector<ironmill::formats::onnx::IoSummary>& v) {
      nlohmann::json a = nlohmann::json::array();
      for (const auto& x : v) a.push_back({{"name", x.name}, {"dtype", x.dtype}, {"shape", x.dims}});
      return a;
    };
    j["inputs"] = io(s.inputs);
    j["outputs"] = io(s.outputs);
    j["op_histogram"] = s.op_histogram;
    j["node_count"] = s.node_count;
    j["initializer_count"] = s.initializer_count;
    j["parameter_count"] = s.parameter_count;
    j["unconvertible_ops"] = unconvertible;
    std::cout << j.dump(1) << "\n";
    return 0;
  }
  std::cout << path << ": ONNX IR " << s.ir_version << ", opset " << s.opset
            << (s.producer.empty() ? "" : ", producer " + s.producer) << "\n";
  std::cout << "inputs:\n";
  for (const auto& x : s.inputs) std::cout << "  " << x.name << ": " << x.dtype << " " << dims_str(x.dims) << "\n";
  std::cout << "outputs:\n";
  for (const auto& x : s.outputs) std::cout << "  " << x.name << ": " << x.dtype << " " << dims_str(x.dims) << "\n";
  std::cout << "ops (" << s.node_count << " nodes):\n";
  for (const auto& [op, n] : s.op_histogram) std::cout << "  " << op << ": " << n << "\n";
  std::cout << "parameters: " << s.parameter_count << " in " << s.initializer_count << " initializers\n";
  if (unconvertible.empty()) std::cout << "convertible: every op has a MIL lowering\n";
  for (const auto& [op, why] : unconvertible) std::cout << "not convertible: " << op << ": " << why << "\n";
  return 0;
}
