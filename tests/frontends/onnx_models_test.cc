// Real models exported by torch (golden/onnx-models, see its PROVENANCE.md): an MLP, a small CNN (conv,
// batchnorm, pooling, a residual add) and a 2-layer causal transformer. Each is imported, run on the
// reference interpreter and compared with torch's own fp32 output.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "backends/backend.h"
#include "formats/onnx/onnx_model.h"
#include "frontends/onnx/onnx_importer.h"

namespace fo = ironmill::formats::onnx;
namespace fr = ironmill::frontends::onnx;
using ironmill::mil::DType;
using ironmill::mil::Tensor;

namespace {

const std::string kDir = std::string(IRONMILL_SOURCE_DIR) + "/golden/onnx-models/";

// fp32 tolerance for a model-sized computation: |a - e| <= 1e-4 + 1e-4 |e| per element.
void check_model(const std::string& name) {
  auto model = fo::load_model(kDir + name + "/model.onnx");
  ASSERT_TRUE(model.ok()) << model.status().message();
  auto imported = fr::import_model(*model);
  ASSERT_TRUE(imported.ok()) << imported.status().message();
  auto input = fo::load_tensor_pb(kDir + name + "/input_0.pb");
  auto expected = fo::load_tensor_pb(kDir + name + "/output_0.pb");
  ASSERT_TRUE(input.ok() && expected.ok());
  ASSERT_EQ(imported->inputs.size(), 1u);
  ASSERT_EQ(imported->outputs.size(), 1u);
  auto backend = ironmill::backends::make_backend("reference");
  ASSERT_TRUE(backend.ok());
  auto exe = (*backend)->compile(imported->program, {});
  ASSERT_TRUE(exe.ok()) << exe.status().message();
  Tensor in = *input;
  if (in.dtype() != imported->inputs[0].type.dtype) in = in.cast_to(imported->inputs[0].type.dtype);
  auto out = (*exe)->run({{imported->inputs[0].mil_name, in}});
  ASSERT_TRUE(out.ok()) << out.status().message();
  const Tensor& y = std::get<Tensor>(out->at(imported->outputs[0].mil_name));
  ASSERT_EQ(y.shape(), expected->shape());
  auto a = y.to_f64(), e = expected->to_f64();
  double worst = 0;
  for (size_t i = 0; i < e.size(); ++i) {
    double err = std::abs(a[i] - e[i]);
    worst = std::max(worst, err);
    ASSERT_LE(err, 1e-4 + 1e-4 * std::abs(e[i])) << name << " element " << i << ": " << a[i] << " vs torch " << e[i];
  }
  std::printf("%s: %zu outputs match torch, max abs err %.3g\n", name.c_str(), e.size(), worst);
}

}  // namespace

TEST(OnnxTorchModels, MlpMatchesTorch) { check_model("mlp"); }
TEST(OnnxTorchModels, SmallCnnWithBatchNormPoolingResidualMatchesTorch) { check_model("small_cnn"); }
TEST(OnnxTorchModels, TwoLayerCausalTransformerMatchesTorch) { check_model("causal_transformer"); }
