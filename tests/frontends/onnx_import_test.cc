// ONNX -> MIL: conversions checked numerically on the reference interpreter, and the capability
// errors (unsupported op, fp64) that name the node and op type.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <limits>

#include "backends/backend.h"
#include "frontends/onnx/onnx_importer.h"

namespace fo = ironmill::formats::onnx;
namespace fr = ironmill::frontends::onnx;
using ironmill::mil::DType;
using ironmill::mil::Tensor;

namespace {

struct ModelBuilder {
  onnx::ModelProto m;
  explicit ModelBuilder(int opset = 13) {
    m.set_ir_version(8);
    auto* op = m.add_opset_import();
    op->set_domain("");
    op->set_version(opset);
  }
  onnx::GraphProto* g() { return m.mutable_graph(); }
  void input(const std::string& name, std::vector<int64_t> dims, int dt = onnx::TensorProto::FLOAT) {
    auto* in = g()->add_input();
    in->set_name(name);
    auto* tt = in->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(dt);
    for (auto d : dims) tt->mutable_shape()->add_dim()->set_dim_value(d);
  }
  void output(const std::string& name, int dt = onnx::TensorProto::FLOAT) {
    auto* o = g()->add_output();
    o->set_name(name);
    o->mutable_type()->mutable_tensor_type()->set_elem_type(dt);
  }
  void init_f(const std::string& name, std::vector<int64_t> dims, std::vector<float> v) {
    auto* t = g()->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::FLOAT);
    for (auto d : dims) t->add_dims(d);
    for (float f : v) t->add_float_data(f);
  }
  void init_i64(const std::string& name, std::vector<int64_t> v) {
    auto* t = g()->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::INT64);
    t->add_dims(static_cast<int64_t>(v.size()));
    for (auto x : v) t->add_int64_data(x);
  }
  onnx::NodeProto* node(const std::string& op, std::vector<std::string> ins, std::vector<std::string> outs,
                        const std::string& name = "") {
    auto* n = g()->add_node();
    n->set_op_type(op);
    n->set_name(name.empty() ? op + "_node" : name);
    for (auto& i : ins) n->add_input(i);
    for (auto& o : outs) n->add_output(o);
    return n;
  }
  fo::OnnxModel load() {
    auto r = fo::parse_model(m.SerializeAsString(), "", "test");
    EXPECT_TRUE(r.ok()) << r.status().message();
    return *r;
  }
};

void attr_i(onnx::NodeProto* n, const std::string& name, int64_t v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}
void attr_f(onnx::NodeProto* n, const std::string& name, float v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(v);
}

std::vector<double> run(const fr::ImportResult& r, const std::vector<Tensor>& inputs) {
  auto be = ironmill::backends::make_backend("reference");
  auto exe = (*be)->compile(r.program, {});
  EXPECT_TRUE(exe.ok()) << exe.status().message();
  ironmill::backends::NamedValues feed;
  for (size_t i = 0; i < inputs.size(); ++i) feed[r.inputs[i].mil_name] = inputs[i];
  auto out = (*exe)->run(feed);
  EXPECT_TRUE(out.ok()) << out.status().message();
  return std::get<Tensor>(out->at(r.outputs[0].mil_name)).to_f64();
}

Tensor f32(std::vector<int64_t> shape, std::vector<float> v) { return Tensor::from_f32(DType::kFp32, shape, v); }

}  // namespace

TEST(OnnxImport, GemmWithInitializersAndTranspose) {
  ModelBuilder mb;
  mb.input("a", {2, 3});
  mb.init_f("b", {2, 3}, {1, 0, 0, 0, 1, 1});  // used transposed: [3, 2]
  mb.init_f("c", {2}, {10, 20});
  auto* n = mb.node("Gemm", {"a", "b", "c"}, {"y"});
  attr_i(n, "transB", 1);
  attr_f(n, "alpha", 2.f);
  mb.output("y");
  auto r = fr::import_model(mb.load());
  ASSERT_TRUE(r.ok()) << r.status().message();
  auto y = run(*r, {f32({2, 3}, {1, 2, 3, 4, 5, 6})});
  EXPECT_EQ(y, (std::vector<double>{12, 30, 18, 42}));
}

TEST(OnnxImport, ReshapeWithInt64InitializerAndCopyDim) {
  ModelBuilder mb;
  mb.input("x", {2, 3, 4});
  mb.init_i64("shape", {0, -1});
  mb.node("Reshape", {"x", "shape"}, {"y"});
  mb.output("y");
  auto r = fr::import_model(mb.load());
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->outputs[0].type.dims, (ironmill::mil::Shape{2, 12}));
}

TEST(OnnxImport, SliceToInt64MaxIsNarrowedSafely) {
  ModelBuilder mb;
  mb.input("x", {5});
  mb.init_i64("starts", {1});
  mb.init_i64("ends", {std::numeric_limits<int64_t>::max()});
  mb.node("Slice", {"x", "starts", "ends"}, {"y"});
  mb.output("y");
  auto r = fr::import_model(mb.load());
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(run(*r, {f32({5}, {0, 1, 2, 3, 4})}), (std::vector<double>{1, 2, 3, 4}));
}

TEST(OnnxImport, ConvThenRelu) {
  ModelBuilder mb(11);
  mb.input("x", {1, 1, 3, 3});
  mb.init_f("w", {1, 1, 2, 2}, {1, 1, 1, 1});
  mb.init_f("b", {1}, {-10});
  mb.node("Conv", {"x", "w", "b"}, {"c"});
  mb.node("Relu", {"c"}, {"y"});
  mb.output("y");
  auto r = fr::import_model(mb.load());
  ASSERT_TRUE(r.ok()) << r.status().message();
  // windows sum: 0+1+3+4=8, 12, 20, 24 -> minus 10 -> relu
  EXPECT_EQ(run(*r, {f32({1, 1, 3, 3}, {0, 1, 2, 3, 4, 5, 6, 7, 8})}), (std::vector<double>{0, 2, 10, 14}));
}

TEST(OnnxImport, RuntimeShapeInputIsReportedForFreezing) {
  ModelBuilder mb;
  mb.input("x", {4});
  mb.input("k", {1}, onnx::TensorProto::INT64);
  mb.node("TopK", {"x", "k"}, {"v", "i"});
  mb.output("v");
  mb.output("i", onnx::TensorProto::INT64);
  auto model = mb.load();
  fr::ImportError err;
  auto r = fr::import_model(model, {}, &err);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(err.needs_constant, (std::vector<std::string>{"k"}));
  fr::ImportOptions opts;
  opts.frozen_inputs["k"] = Tensor::from_i64(DType::kInt64, {1}, std::vector<int64_t>{2});
  auto r2 = fr::import_model(model, opts);
  ASSERT_TRUE(r2.ok()) << r2.status().message();
  EXPECT_EQ(run(*r2, {f32({4}, {3, 9, 1, 5})}), (std::vector<double>{9, 5}));
}

TEST(OnnxImport, UnsupportedOpNamesTheNodeAndOpType) {
  ModelBuilder mb;
  mb.input("x", {2, 2});
  mb.node("Unique", {"x"}, {"y"}, "my_unique");
  mb.output("y");
  auto r = fr::import_model(mb.load());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ironmill::ErrorCode::kUnsupported);
  EXPECT_NE(r.status().message().find("'my_unique' (Unique)"), std::string::npos) << r.status().message();
}

TEST(OnnxImport, Fp64IsCarriedAsFp32AndFlagged) {
  ModelBuilder mb;
  mb.input("x", {2}, onnx::TensorProto::DOUBLE);
  mb.node("Relu", {"x"}, {"y"});
  mb.output("y", onnx::TensorProto::DOUBLE);
  auto r = fr::import_model(mb.load());
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE(r->fp64_narrowed);
  EXPECT_EQ(r->inputs[0].type.dtype, DType::kFp32);
  EXPECT_EQ(run(*r, {f32({2}, {-1.5f, 2.25f})}), (std::vector<double>{0, 2.25}));
}

TEST(OnnxImport, Fp32ModelIsNotFlaggedAsNarrowed) {
  ModelBuilder mb;
  mb.input("x", {2});
  mb.node("Relu", {"x"}, {"y"});
  mb.output("y");
  auto r = fr::import_model(mb.load());
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_FALSE(r->fp64_narrowed);
}

// NLL by hand: input [2 samples, 3 classes], targets {2, 0}, weights {1, 2, 3}:
// loss = -(w2 * x[0,2] + w0 * x[1,0]) / (w2 + w0) = -(3 * -0.5 + 1 * -2) / 4 = 0.875.
TEST(OnnxImport, NegativeLogLikelihoodLossMeanWithWeights) {
  ModelBuilder mb;
  mb.input("x", {2, 3});
  mb.input("t", {2}, onnx::TensorProto::INT64);
  mb.init_f("w", {3}, {1, 2, 3});
  mb.node("NegativeLogLikelihoodLoss", {"x", "t", "w"}, {"loss"});
  mb.output("loss");
  auto r = fr::import_model(mb.load());
  ASSERT_TRUE(r.ok()) << r.status().message();
  auto y = run(*r, {f32({2, 3}, {-1, -1, -0.5f, -2, -1, -1}), Tensor::from_i64(DType::kInt32, {2}, std::vector<int64_t>{2, 0})});
  ASSERT_EQ(y.size(), 1u);
  EXPECT_NEAR(y[0], 0.875, 1e-6);
}

// Resize by hand: [1, 1, 1, 2] -> sizes [1, 1, 1, 4], linear, half_pixel: x_orig = (x + 0.5) / 2 - 0.5
// = -0.25, 0.25, 0.75, 1.25 -> clamped edges 0 and 10, then 2.5 and 7.5.
TEST(OnnxImport, ResizeLinearHalfPixel) {
  ModelBuilder mb;
  mb.input("x", {1, 1, 1, 2});
  mb.init_i64("sizes", {1, 1, 1, 4});
  mb.node("Resize", {"x", "", "", "sizes"}, {"y"});
  auto* a = mb.g()->mutable_node(0)->add_attribute();
  a->set_name("mode");
  a->set_type(onnx::AttributeProto::STRING);
  a->set_s("linear");
  mb.output("y");
  auto r = fr::import_model(mb.load());
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(run(*r, {f32({1, 1, 1, 2}, {0, 10})}), (std::vector<double>{0, 2.5, 7.5, 10}));
}

TEST(OnnxImport, UnsupportedTableIsConsistent) {
  std::set<std::string> seen;
  const auto converted = fr::converted_onnx_ops();
  for (const auto& u : fr::unsupported_onnx_ops()) {
    EXPECT_TRUE(seen.insert(u.op_type).second) << "listed twice: " << u.op_type;
    EXPECT_GT(std::string(u.reason).size(), 10u) << u.op_type;
    EXPECT_EQ(std::count(converted.begin(), converted.end(), u.op_type), 0) << u.op_type << " is listed and lowered";
  }
}
