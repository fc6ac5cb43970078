// ane-matmul-to-conv: linear(x, W, b) and matmul(x, const W) become a 1×1 conv (about 3× faster than
// matmul on the ANE, ironmill-notes.md §5.4). x [..., Cin] is viewed as [1, Cin, 1, M] (M = the
// product of the leading dims) — reshape + transpose — convolved with W as [Cout, Cin, 1, 1], and
// viewed back as [..., Cout]. When x already is [1, Cin, 1, S] in channel layout nothing moves.
#pragma once
#include "passes/pass.h"

namespace ironmill::passes::ane {

class MatmulToConvPass final : public Pass {
 public:
  std::string name() const override { return "ane-matmul-to-conv"; }
  Result<bool> run(mil::Program& program) override;
};

}  // namespace ironmill::passes::ane
