#include "passes/ane/kv_cache.h"

#include "../pass_test_support.h"

namespace ironmill::passes::ane {
namespace {

using namespace ironmill::testing;
using mil::DType;

mil::Program with_cache() {
  mil::Program p;
  mil::Builder b(p);
  auto k = b.input("past_key", mil::Type::tensor(DType::kFp32, {mil::kUnknownDim, 4, mil::kUnknownDim, 8}));
  auto x = b.input("x", mil::Type::tensor(DType::kFp32, {mil::kUnknownDim, 8}));
  b.output(b.op("reduce_sum", {{"x", k}, {"axes", int32_vector({2})}}));
  b.output(b.op("relu", {{"x", x}}));
  EXPECT_TRUE(b.finish().ok()) << b.status().message();
  return p;
}

TEST(KvCache, CacheInputsGetStaticShapes) {
  EXPECT_TRUE(is_cache_input_name("model.layers.0.past_key_values"));
  EXPECT_TRUE(is_cache_input_name("value_cache_3"));
  EXPECT_FALSE(is_cache_input_name("input_ids"));
  auto r = check_pass(with_cache(), KvCachePass(16),
                      {{"past_key", ramp(DType::kFp32, {1, 4, 16, 8}, 0.01)}, {"x", ramp(DType::kFp32, {3, 8}, 0.1, -1)}}, 0.0);
  EXPECT_EQ(r.functions[0].inputs[0].type.dims, (mil::Shape{1, 4, 16, 8}));
  EXPECT_EQ(r.functions[0].inputs[1].type.dims[0], mil::kUnknownDim);  // not a cache: untouched
}

}  // namespace
}  // namespace ironmill::passes::ane
