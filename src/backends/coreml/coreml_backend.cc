#include "backends/coreml/coreml_backend.h"

#include "backends/reference/interpreter.h"
#include "formats/coreml/model_writer.h"
#include "formats/mapped_file.h"
#include "frontends/coreml/coreml_import.h"
#include "mil/verifier.h"

namespace ironmill::backends::coreml {
namespace fc = formats::coreml;
namespace fe = frontends::coreml;

namespace {

// Runs a model read from Core ML bytes; owns the model so its weight views stay mapped.
class PackageExecutable final : public Executable {
 public:
  PackageExecutable(std::shared_ptr<fe::CoreMLModel> model, std::unique_ptr<Executable> inner)
      : model_(std::move(model)), inner_(std::move(inner)) {}
  Result<NamedValues> run(const NamedValues& inputs) override { return inner_->run(inputs); }

 private:
  std::shared_ptr<fe::CoreMLModel> model_;
  std::unique_ptr<Executable> inner_;
};

Result<std::unique_ptr<Executable>> prepare(std::shared_ptr<fe::CoreMLModel> model, std::string function) {
  if (function.empty())
    function = model->info.default_function.empty() ? model->program.functions.at(0).name : model->info.default_function;
  CompileOptions opts;
  opts.function = function;
  std::weak_ptr<fe::CoreMLModel> weak = model;
  opts.blob_resolver = [weak](const mil::BlobFileRef& ref, const mil::Type& t) -> Result<mil::Tensor> {
    auto m = weak.lock();
    if (!m) return internal_error("the Core ML model was released");
    return m->resolve_blob(ref, t);
  };
  reference::ReferenceBackend ref;
  IM_ASSIGN_OR_RETURN(auto inner, ref.compile(model->program, opts));
  return std::unique_ptr<Executable>(new PackageExecutable(std::move(model), std::move(inner)));
}

}  // namespace

SupportVerdict CoreMLBackend::supports(const mil::Operation& op, int opset) const {
  reference::ReferenceBackend ref;
  SupportVerdict v = ref.supports(op, opset);
  if (v.supported) v.reason = "Core ML op in opset ios" + std::to_string(opset) + " (Linux runner, reference kernel)";
  return v;
}

Result<std::unique_ptr<Executable>> CoreMLBackend::compile(const mil::Program& program, const CompileOptions& options) {
  IM_RETURN_IF_ERROR(mil::verify(program));
  if (!program.function(options.function)) return not_found("function `" + options.function + "` not in program");
  fc::WriteOptions wo;
  wo.blob_source = options.blob_resolver;
  auto s = fc::serialize_model(program, wo);
  if (!s.ok()) {
    // Model-level limits of Core ML (I/O dtypes, states, spec) make the program unrepresentable.
    if (s.status().code() == ErrorCode::kUnsupported) return unsupported("Core ML: " + s.status().message());
    return s.status();
  }
  std::shared_ptr<fc::BlobReader> weights;
  if (s->weights) {
    auto buf = std::make_shared<formats::ByteBuffer>(std::move(*s->weights));
    IM_ASSIGN_OR_RETURN(weights, fc::BlobReader::open(std::move(buf), "weight.bin"));
  }
  IM_ASSIGN_OR_RETURN(fe::CoreMLModel m, fe::import_model_bytes(s->model_bytes, weights, "model.mlmodel"));
  return prepare(std::make_shared<fe::CoreMLModel>(std::move(m)), options.function);
}

std::unique_ptr<Backend> make_coreml_backend() { return std::make_unique<CoreMLBackend>(); }

Result<std::unique_ptr<Executable>> load_package(const std::string& path, const std::string& function) {
  IM_ASSIGN_OR_RETURN(fe::CoreMLModel m, fe::load_coreml(path));
  return prepare(std::make_shared<fe::CoreMLModel>(std::move(m)), function);
}

}  // namespace ironmill::backends::coreml
