// Reference kernels for the linalg ops: matmul / linear through double-precision GEMM (OpenBLAS) on
// inputs widened to fp64, rounded once to the output dtype; int32 exactly (int64 accumulation,
// wrapped to int32 like numpy). einsum is a direct fp64 sum over every index combination.
#include <cblas.h>

#include <algorithm>
#include <cctype>
#include <map>

#include "backends/reference/kernel.h"

namespace ironmill::backends::reference {
namespace {

using mil::DType;
using mil::Shape;
using mil::Tensor;

bool integral(DType d) { return mil::is_int(d); }

// C[M,N] = op(A)[M,K] · op(B)[K,N] in fp64, row-major; lda/ldb are the stored row lengths.
void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const double* A, int64_t lda, const double* B,
          int64_t ldb, double* C) {
  if (M == 0 || N == 0) return;
  if (K == 0) {
    std::fill(C, C + M * N, 0.0);
    return;
  }
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, static_cast<int>(M),
              static_cast<int>(N), static_cast<int>(K), 1.0, A, static_cast<int>(lda), B, static_cast<int>(ldb), 0.0, C,
              static_cast<int>(N));
}

void gemm_int(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const int64_t* A, int64_t lda, const int64_t* B,
              int64_t ldb, int64_t* C) {
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      uint64_t acc = 0;
      for (int64_t k = 0; k < K; ++k) {
        const int64_t a = ta ? A[k * lda + m] : A[m * lda + k];
        const int64_t b = tb ? B[n * ldb + k] : B[k * ldb + n];
        acc += static_cast<uint64_t>(a) * static_cast<uint64_t>(b);
      }
      C[m * N + n] = static_cast<int32_t>(static_cast<int64_t>(acc));  // int32 output wraps like numpy
    }
}

Status matmul_kernel(KernelContext& c) {
  IM_ASSIGN_OR_RETURN(Tensor x, c.tensor("x"));
  IM_ASSIGN_OR_RETURN(Tensor y, c.tensor("y"));
  IM_ASSIGN_OR_RETURN(bool tx, c.get_bool("transpose_x"));
  IM_ASSIGN_OR_RETURN(bool ty, c.get_bool("transpose_y"));
  if (x.rank() < 1 || y.rank() < 1) return c.error("x and y must have rank >= 1");
  Shape xs = x.shape(), ys = y.shape();
  const bool x1 = xs.size() == 1, y1 = ys.size() == 1;
  if (x1) { xs.insert(xs.begin(), 1); tx = false; }
  if (y1) { ys.push_back(1); ty = false; }
  const int64_t xr = xs[xs.size() - 2], xc = xs.back(), yr = ys[ys.size() - 2], yc = ys.back();
  const int64_t M = tx ? xc : xr, K = tx ? xr : xc, N = ty ? yr : yc, Ky = ty ? yc : yr;
  if (K != Ky) return c.error("inner dimensions differ: " + std::to_string(K) + " vs " + std::to_string(Ky));
  const Shape bx(xs.begin(), xs.end() - 2), by(ys.begin(), ys.end() - 2);
  auto bo = mil::infer::broadcast_shapes(bx, by);
  if (!bo.ok()) return c.error(bo.status().message());
  const auto ix = kutil::broadcast_index(*bo, bx), iy = kutil::broadcast_index(*bo, by);
  Shape out = *bo;
  if (!x1) out.push_back(M);
  if (!y1) out.push_back(N);
  const int64_t nb = mil::shape_numel(*bo);
  const DType odt = kutil::out_dtype(c);
  // One gemm (gemm or gemm_int) per broadcast batch.
  auto batched = [&](auto gemm_fn, const auto& xv, const auto& yv, auto& o) {
    for (int64_t b = 0; b < nb; ++b)
      gemm_fn(tx, ty, M, N, K, xv.data() + ix[static_cast<size_t>(b)] * xr * xc, xc,
              yv.data() + iy[static_cast<size_t>(b)] * yr * yc, yc, o.data() + b * M * N);
  };
  if (integral(odt) && integral(x.dtype()) && integral(y.dtype())) {
    std::vector<int64_t> o(static_cast<size_t>(nb * M * N));
    batched(gemm_int, x.to_i64(), y.to_i64(), o);
    c.set_output(0, Tensor::from_i64(odt, out, o));
    return Status::Ok();
  }
  std::vector<double> o(static_cast<size_t>(nb * M * N));
  batched(gemm, x.to_f64(), y.to_f64(), o);
  c.set_output(0, Tensor::from_f64(odt, out, o));
  return Status::Ok();
}

Status linear_kernel(KernelContext& c) {
  IM_ASSIGN_OR_RETURN(Tensor x, c.tensor("x"));
  IM_ASSIGN_OR_RETURN(Tensor w, c.tensor("weight"));
  IM_ASSIGN_OR_RETURN(Tensor bias, c.tensor("bias"));
  if (w.rank() != 2 || x.rank() < 1) return c.error("weight must be rank 2 and x rank >= 1");
  const int64_t dout = w.dim(0), din = w.dim(1);
  if (x.dim(-1) != din) return c.error("x's last dimension " + std::to_string(x.dim(-1)) + " != D_in " + std::to_string(din));
  if (bias.numel() != dout) return c.error("bias has " + std::to_string(bias.numel()) + " values, D_out is " + std::to_string(dout));
  const int64_t rows = din == 0 ? mil::shape_numel(Shape(x.shape().begin(), x.shape().end() - 1)) : x.numel() / din;
  Shape out = x.shape();
  out.back() = dout;
  const DType odt = kutil::out_dtype(c);
  if (integral(odt) && integral(w.dtype())) {
    const auto xv = x.to_i64(), wv = w.to_i64(), bv = bias.to_i64();
    std::vector<int64_t> o(static_cast<size_t>(rows * dout));
    gemm_int(false, true, rows, dout, din, xv.data(), din, wv.data(), din, o.data());
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < dout; ++j) {
        int64_t& e = o[static_cast<size_t>(r * dout + j)];
        e = static_cast<int32_t>(static_cast<int64_t>(static_cast<uint64_t>(e) + static_cast<uint64_t>(bv[static_cast<size_t>(j)])));
      }
    c.set_output(0, Tensor::from_i64(odt, out, o));
    return Status::Ok();
  }
  const auto xv = x.to_f64(), wv = w.to_f64(), bv = bias.to_f64();
  std::vector<double> o(static_cast<size_t>(rows * dout));
  gemm(false, true, rows, dout, din, xv.data(), din, wv.data(), din, o.data());
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < dout; ++j) o[static_cast<size_t>(r * dout + j)] += bv[static_cast<size_t>(j)];
  c.set_output(0, Tensor::from_f64(odt, out, o));
  return Status::Ok();
}

// General einsum over 1-2 operands: every letter is one loop; a size-1 operand dim broadcasts.
Status einsum_kernel(KernelContext& c) {
  IM_ASSIGN_OR_RETURN(std::vector<RtValue> vals, c.tuple("values"));
  IM_ASSIGN_OR_RETURN(std::string eq, c.get_string("equation"));
  std::vector<Tensor> ops;
  for (auto& v : vals) {
    auto* t = std::get_if<Tensor>(&v);
    if (!t) return c.error("`values` must hold tensors");
    ops.push_back(*t);
  }
  eq.erase(std::remove(eq.begin(), eq.end(), ' '), eq.end());
  std::string lhs = eq, outs;
  const auto arrow = eq.find("->");
  std::vector<std::string> subs;
  if (arrow != std::string::npos) { lhs = eq.substr(0, arrow); outs = eq.substr(arrow + 2); }
  for (size_t start = 0;;) {
    const auto comma = lhs.find(',', start);
    subs.push_back(lhs.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (subs.size() != ops.size()) return c.error("equation \"" + eq + "\" does not match the number of operands");
  std::map<char, int64_t> size;
  std::map<char, int> count;
  for (size_t i = 0; i < ops.size(); ++i) {
    if (static_cast<int>(subs[i].size()) != ops[i].rank()) return c.error("operand rank does not match \"" + subs[i] + "\"");
    for (size_t d = 0; d < subs[i].size(); ++d) {
      const char ch = subs[i][d];
      ++count[ch];
      const int64_t v = ops[i].shape()[d];
      auto [it, inserted] = size.emplace(ch, v);
      if (!inserted && v != 1) {
        if (it->second != 1 && it->second != v) return c.error("dimension '" + std::string(1, ch) + "' mismatch");
        it->second = v;
      }
    }
  }
  if (arrow == std::string::npos)
    for (auto& [ch, n] : count)
      if (n == 1) outs += ch;
  // Loop order: output letters, then summed letters.
  std::vector<char> letters(outs.begin(), outs.end());
  for (auto& [ch, n] : size)
    if (outs.find(ch) == std::string::npos) letters.push_back(ch);
  std::map<char, size_t> pos;
  for (size_t i = 0; i < letters.size(); ++i) pos[letters[i]] = i;
  // Per operand, per letter slot: stride contribution (0 where the operand dim is 1 / broadcast).
  std::vector<std::vector<int64_t>> coef(ops.size(), std::vector<int64_t>(letters.size(), 0));
  for (size_t i = 0; i < ops.size(); ++i) {
    const auto st = kutil::strides_of(ops[i].shape());
    for (size_t d = 0; d < subs[i].size(); ++d)
      if (ops[i].shape()[d] != 1) coef[i][pos[subs[i][d]]] += st[d];
  }
  Shape out_shape, sum_shape;
  for (char ch : outs) out_shape.push_back(size[ch]);
  for (size_t i = outs.size(); i < letters.size(); ++i) sum_shape.push_back(size[letters[i]]);
  const int64_t n_out = mil::shape_numel(out_shape), n_sum = mil::shape_numel(sum_shape);
  std::vector<std::vector<double>> data;
  for (auto& t : ops) data.push_back(t.to_f64());
  std::vector<double> out(static_cast<size_t>(n_out), 0.0);
  std::vector<int64_t> coord(letters.size(), 0);
  for (int64_t o = 0; o < n_out; ++o) {
    // Output coordinates from the flat index.
    int64_t rem = o;
    for (int i = static_cast<int>(outs.size()) - 1; i >= 0; --i) {
      coord[static_cast<size_t>(i)] = rem % out_shape[static_cast<size_t>(i)];
      rem /= out_shape[static_cast<size_t>(i)];
    }
    double acc = 0;
    for (int64_t s = 0; s < n_sum; ++s) {
      rem = s;
      for (int i = static_cast<int>(sum_shape.size()) - 1; i >= 0; --i) {
        coord[outs.size() + static_cast<size_t>(i)] = rem % sum_shape[static_cast<size_t>(i)];
        rem /= sum_shape[static_cast<size_t>(i)];
      }
      double p = 1;
      for (size_t k = 0; k < ops.size(); ++k) {
        int64_t off = 0;
        for (size_t l = 0; l < letters.size(); ++l) off += coef[k][l] * coord[l];
        p *= data[k][static_cast<size_t>(off)];
      }
      acc += p;
    }
    out[static_cast<size_t>(o)] = acc;
  }
  c.set_output(0, Tensor::from_f64(kutil::out_dtype(c), out_shape, out));
  return Status::Ok();
}

}  // namespace

void register_linalg_kernels(KernelTable& t) {
  t.add("matmul", matmul_kernel);
  t.add("linear", linear_kernel);
  t.add("einsum", einsum_kernel);
}

}  // namespace ironmill::backends::reference
