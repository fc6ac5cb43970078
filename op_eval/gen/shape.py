"""Op-eval cases for the shape family. Expected outputs come from NumPy / PyTorch (and, for the few ops
neither library has, from plain NumPy index loops written from the TF / coremltools definitions)."""
import numpy as np
import torch

from common import const, rng, tensor, tup

F32 = np.float32
F16 = np.float16
I32 = np.int32


def f32(r, *shape):
    return r.standard_normal(shape).astype(F32)


def arange(shape, dtype=F32):
    return np.arange(int(np.prod(shape))).reshape(shape).astype(dtype)


def generate(emit):
    r = rng(1234)

    # ---- reshape -------------------------------------------------------------------------------------
    x = f32(r, 2, 3, 4)
    emit("reshape", "basic", {"x": tensor(x), "shape": const(np.array([4, 6], I32))}, [x.reshape(4, 6)])
    emit("reshape", "infer_neg1", {"x": tensor(x), "shape": const(np.array([-1, 4], I32))}, [x.reshape(-1, 4)])
    emit("reshape", "zero_copies_dim", {"x": tensor(x), "shape": const(np.array([0, -1, 2], I32))},
         [x.reshape(2, 6, 2)], note="0 copies x.shape[0]")
    xi = np.arange(12, dtype=I32).reshape(3, 4)
    emit("reshape", "int32_to_scalarish", {"x": tensor(xi), "shape": const(np.array([2, 2, 3], I32))}, [xi.reshape(2, 2, 3)])
    xb = r.random((2, 6)) > 0.5
    emit("reshape", "bool", {"x": tensor(xb), "shape": const(np.array([3, 4], I32))}, [xb.reshape(3, 4)])
    xh = f32(r, 4, 2).astype(F16)
    emit("reshape", "fp16_runtime_shape", {"x": tensor(xh), "shape": tensor(np.array([8], I32))}, [xh.reshape(8)],
         note="non-constant shape: output dims unknown at compile time")
    x1 = np.array([3.5], F32)
    emit("reshape", "to_scalar", {"x": tensor(x1), "shape": const(np.zeros((0,), I32))}, [x1.reshape(())])

    # ---- reshape_like (iOS16+) -------------------------------------------------------------------------
    x = f32(r, 2, 3, 5, 6)
    ref0, ref1 = f32(r, 2, 3, 4), f32(r, 1, 5, 6)
    emit("reshape_like", "two_refs",
         {"x": tensor(x), "ref_tensors": tup(tensor(ref0), tensor(ref1)),
          "begins": tup(const(np.int32(0)), const(np.int32(1))),
          "ends": tup(const(np.int32(2)), const(np.int32(0))),
          "end_masks": tup(const(np.bool_(False)), const(np.bool_(True)))},
         [x.reshape(ref0.shape[0:2] + ref1.shape[1:])])
    xi = np.arange(24, dtype=I32).reshape(4, 6)
    ref = np.zeros((2, 3, 4), I32)
    emit("reshape_like", "int32_one_ref",
         {"x": tensor(xi), "ref_tensors": tup(tensor(ref)), "begins": tup(const(np.int32(0))),
          "ends": tup(const(np.int32(3))), "end_masks": tup(const(np.bool_(False)))},
         [xi.reshape(ref.shape)], opset="ios16")

    # ---- transpose -------------------------------------------------------------------------------------
    x = f32(r, 2, 3, 4)
    emit("transpose", "perm_201", {"x": tensor(x), "perm": const(np.array([2, 0, 1], I32))}, [np.transpose(x, (2, 0, 1))])
    emit("transpose", "negative_perm", {"x": tensor(x), "perm": const(np.array([-1, -3, -2], I32))},
         [np.transpose(x, (2, 0, 1))])
    xb = r.random((3, 2)) > 0.5
    emit("transpose", "bool_2d", {"x": tensor(xb), "perm": const(np.array([1, 0], I32))}, [xb.T])
    xu = r.integers(0, 60000, (2, 3, 2)).astype(np.uint16)
    emit("transpose", "uint16", {"x": tensor(xu), "perm": const(np.array([1, 2, 0], I32))},
         [np.transpose(xu, (1, 2, 0))])

    # ---- expand_dims / squeeze / flatten2d ---------------------------------------------------------------
    x = f32(r, 2, 3)
    emit("expand_dims", "axis0", {"x": tensor(x), "axes": const(np.array([0], I32))}, [np.expand_dims(x, 0)])
    emit("expand_dims", "multi_negative", {"x": tensor(x), "axes": const(np.array([-1, 1], I32))},
         [np.expand_dims(x, (1, 3))])
    s = np.array(2.5, F32)
    emit("expand_dims", "scalar", {"x": tensor(s), "axes": const(np.array([0], I32))}, [s.reshape(1)])
    xi8 = r.integers(-100, 100, (3,)).astype(np.int8)
    emit("expand_dims", "int8", {"x": tensor(xi8), "axes": const(np.array([0, 2], I32))}, [xi8.reshape(1, 3, 1)])

    x = f32(r, 1, 3, 1, 2)
    emit("squeeze", "all", {"x": tensor(x)}, [np.squeeze(x)])
    emit("squeeze", "axes", {"x": tensor(x), "axes": const(np.array([2], I32))}, [np.squeeze(x, 2)])
    emit("squeeze", "negative_axes", {"x": tensor(x), "axes": const(np.array([-4, -2], I32))}, [np.squeeze(x, (0, 2))])
    xb = np.array([[True]])
    emit("squeeze", "to_scalar_bool", {"x": tensor(xb)}, [np.squeeze(xb)])

    x = f32(r, 2, 3, 4)
    emit("flatten2d", "default_axis", {"x": tensor(x)}, [x.reshape(2, 12)])
    emit("flatten2d", "axis_neg1", {"x": tensor(x), "axis": const(np.int32(-1))}, [x.reshape(6, 4)])
    emit("flatten2d", "axis0", {"x": tensor(x), "axis": const(np.int32(0))}, [x.reshape(1, 24)])
    xi = np.arange(6, dtype=I32).reshape(3, 2)
    emit("flatten2d", "axis_rank_int32", {"x": tensor(xi), "axis": const(np.int32(2))}, [xi.reshape(6, 1)])

    # ---- concat / stack / split --------------------------------------------------------------------------
    a, b, c = f32(r, 2, 3), f32(r, 2, 1), f32(r, 2, 2)
    emit("concat", "axis1_three", {"values": tup(tensor(a), tensor(b), tensor(c)), "axis": const(np.int32(1))},
         [np.concatenate([a, b, c], axis=1)])
    a, b = f32(r, 2, 3), f32(r, 1, 3)
    emit("concat", "axis_neg2_const_value", {"values": tup(tensor(a), const(b)), "axis": const(np.int32(-2))},
         [np.concatenate([a, b], axis=0)])
    a, b = arange((3, 2)), arange((3, 2)) + 100
    emit("concat", "interleave_axis0", {"values": tup(tensor(a), tensor(b)), "axis": const(np.int32(0)),
                                        "interleave": const(np.bool_(True))},
         [np.stack([a, b], axis=1).reshape(6, 2)])
    a, b, c = f32(r, 2, 2, 2), f32(r, 2, 2, 2), f32(r, 2, 2, 2)
    emit("concat", "interleave_axis1_three", {"values": tup(tensor(a), tensor(b), tensor(c)), "axis": const(np.int32(1)),
                                              "interleave": const(np.bool_(True))},
         [np.stack([a, b, c], axis=2).reshape(2, 6, 2)])
    ai, bi = np.arange(4, dtype=I32).reshape(2, 2), np.arange(6, dtype=I32).reshape(2, 3)
    emit("concat", "int32", {"values": tup(tensor(ai), tensor(bi)), "axis": const(np.int32(1))}, [np.concatenate([ai, bi], 1)])
    ab, bb = r.random((1, 3)) > 0.5, r.random((2, 3)) > 0.5
    emit("concat", "bool", {"values": tup(tensor(ab), tensor(bb)), "axis": const(np.int32(0))}, [np.concatenate([ab, bb], 0)])
    ah, bh = f32(r, 3).astype(F16), f32(r, 2).astype(F16)
    emit("concat", "fp16_1d", {"values": tup(tensor(ah), tensor(bh)), "axis": const(np.int32(0))}, [np.concatenate([ah, bh])])

    a, b, c = f32(r, 2, 3), f32(r, 2, 3), f32(r, 2, 3)
    emit("stack", "axis0", {"values": tup(tensor(a), tensor(b)), "axis": const(np.int32(0))}, [np.stack([a, b], 0)])
    emit("stack", "axis_last_three", {"values": tup(tensor(a), tensor(b), tensor(c)), "axis": const(np.int32(-1))},
         [np.stack([a, b, c], -1)])
    emit("stack", "axis1", {"values": tup(tensor(a), tensor(b)), "axis": const(np.int32(1))}, [np.stack([a, b], 1)])
    si, sj = np.array(3, I32), np.array(7, I32)
    emit("stack", "scalars_int32", {"values": tup(tensor(si), tensor(sj)), "axis": const(np.int32(0))}, [np.stack([si, sj])])

    x = f32(r, 6, 4)
    emit("split", "num_splits", {"x": tensor(x), "num_splits": const(np.int32(3)), "axis": const(np.int32(0))},
         np.split(x, 3, axis=0))
    emit("split", "split_sizes", {"x": tensor(x), "split_sizes": const(np.array([1, 3], I32)), "axis": const(np.int32(1))},
         np.split(x, [1], axis=1))
    emit("split", "sizes_neg_axis", {"x": tensor(x), "split_sizes": const(np.array([2, 1, 3], I32)),
                                     "axis": const(np.int32(-2))}, np.split(x, [2, 3], axis=0))
    xb = r.random((2, 4)) > 0.5
    emit("split", "bool_both", {"x": tensor(xb), "num_splits": const(np.int32(2)), "split_sizes": const(np.array([3, 1], I32)),
                                "axis": const(np.int32(1))}, np.split(xb, [3], axis=1))

    # ---- tile / pad --------------------------------------------------------------------------------------
    x = f32(r, 2, 3)
    emit("tile", "basic", {"x": tensor(x), "reps": const(np.array([2, 3], I32))}, [np.tile(x, (2, 3))])
    xi = np.arange(4, dtype=I32).reshape(1, 2, 2)
    emit("tile", "int32_runtime_reps", {"x": tensor(xi), "reps": tensor(np.array([3, 1, 2], I32))}, [np.tile(xi, (3, 1, 2))],
         note="non-constant reps: output dims unknown at compile time")
    xb = np.array([True, False])
    emit("tile", "bool", {"x": tensor(xb), "reps": const(np.array([3], I32))}, [np.tile(xb, 3)])

    x = f32(r, 2, 3, 4)
    emit("pad", "constant_last2", {"x": tensor(x), "pad": const(np.array([1, 2, 0, 1], I32)), "constant_val": const(np.float32(1.5))},
         [np.pad(x, ((0, 0), (1, 2), (0, 1)), mode="constant", constant_values=1.5)])
    emit("pad", "constant_default_all", {"x": tensor(x), "pad": const(np.array([1, 0, 0, 1, 2, 2], I32))},
         [np.pad(x, ((1, 0), (0, 1), (2, 2)))])
    emit("pad", "reflect", {"x": tensor(x), "pad": const(np.array([2, 1, 3, 3], I32)), "mode": const("reflect")},
         [np.pad(x, ((0, 0), (2, 1), (3, 3)), mode="reflect")])
    emit("pad", "replicate", {"x": tensor(x), "pad": const(np.array([2, 1, 3, 4], I32)), "mode": const("replicate")},
         [np.pad(x, ((0, 0), (2, 1), (3, 4)), mode="edge")])
    xh = f32(r, 3, 3).astype(F16)
    emit("pad", "fp16_reflect_1dim", {"x": tensor(xh), "pad": const(np.array([1, 2], I32)), "mode": const("reflect")},
         [np.pad(xh, ((0, 0), (1, 2)), mode="reflect")])
    emit("pad", "runtime_pad", {"x": tensor(x), "pad": tensor(np.array([0, 1, 1, 0, 1, 1], I32))},
         [np.pad(x, ((0, 1), (1, 0), (1, 1)))], note="non-constant pad covering all dims")
    # torch cross-check of reflect on a 4-D NCHW tensor
    x4 = f32(r, 1, 2, 3, 4)
    t = torch.nn.functional.pad(torch.from_numpy(x4), (2, 1, 1, 2), mode="reflect").numpy()
    emit("pad", "reflect_nchw_torch", {"x": tensor(x4), "pad": const(np.array([1, 2, 2, 1], I32)), "mode": const("reflect")},
         [t], oracle="torch")

    # ---- slice_by_index ----------------------------------------------------------------------------------
    x = f32(r, 4, 5, 6)
    emit("slice_by_index", "basic", {"x": tensor(x), "begin": const(np.array([1, 0, 2], I32)), "end": const(np.array([3, 5, 6], I32))},
         [x[1:3, 0:5, 2:6]])
    emit("slice_by_index", "stride_and_negative",
         {"x": tensor(x), "begin": const(np.array([-3, 1, 0], I32)), "end": const(np.array([-1, 5, 6], I32)),
          "stride": const(np.array([1, 2, 3], I32))}, [x[-3:-1, 1:5:2, 0:6:3]])
    emit("slice_by_index", "negative_stride",
         {"x": tensor(x), "begin": const(np.array([3, 4, -1], I32)), "end": const(np.array([0, 0, 0], I32)),
          "stride": const(np.array([-1, -2, -2], I32))}, [x[3:0:-1, 4:0:-2, -1:0:-2]])
    emit("slice_by_index", "masks",
         {"x": tensor(x), "begin": const(np.array([2, 9, 1], I32)), "end": const(np.array([0, 2, 9], I32)),
          "begin_mask": const(np.array([False, True, False])), "end_mask": const(np.array([True, False, True]))},
         [x[2:, :2, 1:]])
    emit("slice_by_index", "masks_negative_stride",
         {"x": tensor(x), "begin": const(np.array([0, 0, 0], I32)), "end": const(np.array([0, 0, 0], I32)),
          "stride": const(np.array([-1, 1, -3], I32)),
          "begin_mask": const(np.array([True, True, True])), "end_mask": const(np.array([True, True, True]))},
         [x[::-1, :, ::-3]])
    emit("slice_by_index", "squeeze",
         {"x": tensor(x), "begin": const(np.array([1, 0, -2], I32)), "end": const(np.array([2, 5, 0], I32)),
          "squeeze_mask": const(np.array([True, False, True]))}, [x[1, 0:5, -2]])
    emit("slice_by_index", "clamped_out_of_range",
         {"x": tensor(x), "begin": const(np.array([-10, 3, 0], I32)), "end": const(np.array([10, 100, 2], I32))},
         [x[-10:10, 3:100, 0:2]])
    xi = np.arange(20, dtype=I32).reshape(4, 5)
    emit("slice_by_index", "int32_runtime_begin",
         {"x": tensor(xi), "begin": tensor(np.array([1, 1], I32)), "end": tensor(np.array([4, 3], I32))}, [xi[1:4, 1:3]],
         note="non-constant begin/end: output dims unknown at compile time")
    xb = r.random((3, 4)) > 0.5
    emit("slice_by_index", "bool_int16_indices",
         {"x": tensor(xb), "begin": const(np.array([0, 1], np.int16)), "end": const(np.array([3, 4], np.int16)),
          "stride": const(np.array([2, 1], np.int16))}, [xb[0:3:2, 1:4]])

    # ---- slice_by_size -----------------------------------------------------------------------------------
    x = f32(r, 3, 4, 5)
    emit("slice_by_size", "basic", {"x": tensor(x), "begin": const(np.array([1, 0, 2], I32)), "size": const(np.array([2, 3, 2], I32))},
         [x[1:3, 0:3, 2:4]])
    emit("slice_by_size", "minus_one_and_negative_begin",
         {"x": tensor(x), "begin": const(np.array([0, -2, 1], I32)), "size": const(np.array([-1, 2, -1], I32))}, [x[0:, 2:4, 1:]])
    xi = np.arange(12, dtype=I32).reshape(3, 4)
    emit("slice_by_size", "int32_runtime", {"x": tensor(xi), "begin": tensor(np.array([1, 1], I32)), "size": tensor(np.array([2, 2], I32))},
         [xi[1:3, 1:3]])

    # ---- slice_update (iOS18) ------------------------------------------------------------------------------
    x = f32(r, 4, 5)
    u = f32(r, 2, 3)
    e = x.copy(); e[1:3, 0:5:2] = u
    emit("slice_update", "basic",
         {"x": tensor(x), "update": tensor(u), "begin": const(np.array([1, 0], I32)), "end": const(np.array([3, 5], I32)),
          "stride": const(np.array([1, 2], I32))}, [e])
    u = f32(r, 4)
    e = x.copy(); e[:, 2] = u
    emit("slice_update", "squeeze",
         {"x": tensor(x), "update": tensor(u), "begin": const(np.array([0, 2], I32)), "end": const(np.array([0, 3], I32)),
          "begin_mask": const(np.array([True, False])), "end_mask": const(np.array([True, False])),
          "squeeze_mask": const(np.array([False, True]))}, [e])
    xi = np.arange(12, dtype=I32).reshape(3, 4)
    ui = -np.arange(6, dtype=I32).reshape(3, 2)
    e = xi.copy(); e[::-1, 3:1:-1] = ui
    emit("slice_update", "int32_negative_stride",
         {"x": tensor(xi), "update": tensor(ui), "begin": const(np.array([0, 3], I32)), "end": const(np.array([0, 1], I32)),
          "stride": const(np.array([-1, -1], I32)), "begin_mask": const(np.array([True, False])),
          "end_mask": const(np.array([True, False]))}, [e])

    # ---- reverse / reverse_sequence ------------------------------------------------------------------------
    x = f32(r, 2, 3, 4)
    emit("reverse", "all_axes", {"x": tensor(x)}, [np.flip(x)])
    emit("reverse", "axes", {"x": tensor(x), "axes": const(np.array([0, -1], I32))}, [np.flip(x, (0, 2))])
    xb = r.random((3, 2)) > 0.5
    emit("reverse", "bool", {"x": tensor(xb), "axes": const(np.array([1], I32))}, [np.flip(xb, 1)])

    def rev_seq(x, lengths, seq_axis, batch_axis):
        out = x.copy()
        for b, l in enumerate(lengths):
            src = [slice(None)] * x.ndim
            src[batch_axis] = b
            src[seq_axis] = slice(0, l)
            dst = list(src)
            out[tuple(dst)] = np.flip(x[tuple(src)], axis=seq_axis - (1 if batch_axis < seq_axis else 0))
        return out

    x = arange((3, 5, 2))
    lens = np.array([2, 5, 0], I32)
    emit("reverse_sequence", "seq1_batch0", {"x": tensor(x), "lengths": tensor(lens), "seq_axis": const(np.int32(1)),
                                             "batch_axis": const(np.int32(0))}, [rev_seq(x, lens, 1, 0)])
    x = np.arange(24, dtype=I32).reshape(4, 3, 2)
    lens = np.array([1, 4, 3], I32)
    emit("reverse_sequence", "seq0_batch1_int32", {"x": tensor(x), "lengths": tensor(lens), "seq_axis": const(np.int32(0)),
                                                   "batch_axis": const(np.int32(1))}, [rev_seq(x, lens, 0, 1)])

    # ---- shape / fill / fill_like / range_1d ---------------------------------------------------------------
    emit("shape", "rank3", {"x": tensor(f32(r, 2, 3, 4))}, [np.array([2, 3, 4], I32)])
    emit("shape", "scalar_bool", {"x": tensor(np.array(True))}, [np.zeros((0,), I32)])
    emit("shape", "int32", {"x": tensor(np.zeros((5, 1), I32))}, [np.array([5, 1], I32)])

    emit("fill", "fp32_value", {"shape": const(np.array([2, 3], I32)), "value": const(np.float32(2.5))}, [np.full((2, 3), 2.5, F32)])
    emit("fill", "default_value", {"shape": const(np.array([3], I32))}, [np.zeros(3, F32)], note="default value 0.0 is fp32")
    emit("fill", "int32_runtime_shape", {"shape": tensor(np.array([2, 2, 1], I32)), "value": const(np.int32(-7))},
         [np.full((2, 2, 1), -7, I32)])
    emit("fill", "bool", {"shape": const(np.array([2], I32)), "value": const(np.bool_(True))}, [np.full((2,), True)])

    emit("fill_like", "fp32", {"ref_tensor": tensor(f32(r, 2, 3)), "value": const(np.float32(-1.25))}, [np.full((2, 3), -1.25, F32)])
    emit("fill_like", "int_ref_fp16_value", {"ref_tensor": tensor(np.zeros((3, 1), I32)), "value": const(np.float16(0.5))},
         [np.full((3, 1), 0.5, F16)])
    emit("fill_like", "default_value", {"ref_tensor": tensor(np.zeros((2,), I32))}, [np.zeros(2, F32)], opset="ios16")

    emit("range_1d", "int32", {"end": tensor(np.int32(10)), "start": tensor(np.int32(1)), "step": tensor(np.int32(3))},
         [np.arange(1, 10, 3, dtype=I32)])
    emit("range_1d", "int32_negative_step", {"end": const(np.int32(-5)), "start": const(np.int32(4)), "step": const(np.int32(-2))},
         [np.arange(4, -5, -2, dtype=I32)])
    emit("range_1d", "fp32", {"end": const(np.float32(2.0)), "start": const(np.float32(-1.0)), "step": const(np.float32(0.25))},
         [np.arange(-1.0, 2.0, 0.25, dtype=F32)])
    emit("range_1d", "fp16_runtime", {"end": tensor(np.float16(3.0)), "start": tensor(np.float16(0.0)), "step": tensor(np.float16(0.5))},
         [np.arange(0.0, 3.0, 0.5).astype(F16)])
    emit("range_1d", "empty", {"end": const(np.int32(0)), "start": const(np.int32(5)), "step": const(np.int32(1))},
         [np.arange(5, 0, 1, dtype=I32)])

    # ---- band_part -----------------------------------------------------------------------------------------
    def band(x, lower, upper):
        m, n = x.shape[-2:]
        mi, ni = np.meshgrid(np.arange(m), np.arange(n), indexing="ij")
        keep = ((lower < 0) | (mi - ni <= lower)) & ((upper < 0) | (ni - mi <= upper))
        return np.where(keep, x, np.zeros_like(x))

    x = f32(r, 2, 4, 5)
    emit("band_part", "lower1_upper2", {"x": tensor(x), "lower": const(np.int32(1)), "upper": const(np.int32(2))}, [band(x, 1, 2)])
    emit("band_part", "upper_triangle", {"x": tensor(x), "lower": const(np.int32(0))}, [np.triu(x)])
    emit("band_part", "lower_triangle", {"x": tensor(x), "upper": const(np.int32(0))}, [np.tril(x)])
    emit("band_part", "defaults_keep_all", {"x": tensor(x)}, [x])
    xi = np.arange(16, dtype=I32).reshape(4, 4) + 1
    emit("band_part", "int32_diag", {"x": tensor(xi), "lower": const(np.int32(0)), "upper": const(np.int32(0))}, [np.diag(np.diag(xi))])
    xb = np.ones((3, 3), bool)
    emit("band_part", "bool", {"x": tensor(xb), "lower": const(np.int32(1)), "upper": const(np.int32(0))}, [band(xb, 1, 0)])

    # ---- one_hot -------------------------------------------------------------------------------------------
    idx = np.array([[0, 2], [1, 3]], I32)
    t = torch.nn.functional.one_hot(torch.from_numpy(idx.astype(np.int64)), 4).numpy().astype(I32)
    emit("one_hot", "default_int32", {"indices": tensor(idx), "one_hot_vector_size": tensor(np.int32(4))}, [t], oracle="torch")
    idx = np.array([2, 0, 1], I32)
    e = np.where(np.arange(3)[:, None] == idx[None, :], 5.0, -1.0).astype(F32)  # axis 0: [depth, N]
    emit("one_hot", "axis0_fp32_values", {"indices": tensor(idx), "one_hot_vector_size": const(np.int32(3)), "axis": const(np.int32(0)),
                                          "on_value": const(np.float32(5.0)), "off_value": const(np.float32(-1.0))}, [e])
    idx = np.array([[1, 5], [-1, 0]], I32)
    e = (idx[:, None, :] == np.arange(3)[None, :, None])  # axis 1, out-of-range -> all off (tf.one_hot)
    emit("one_hot", "axis1_bool_out_of_range", {"indices": tensor(idx), "one_hot_vector_size": const(np.int32(3)),
                                                "axis": const(np.int32(1)), "on_value": const(np.bool_(True)),
                                                "off_value": const(np.bool_(False))}, [e],
         note="indices outside [0, depth) give all-off vectors (tf.one_hot)")

    # ---- non_zero ------------------------------------------------------------------------------------------
    x = np.array([[0, 1.5, 0], [2, 0, -3]], F32)
    emit("non_zero", "fp32_2d", {"x": tensor(x)}, [np.transpose(np.nonzero(x)).astype(I32)])
    xb = r.random((2, 3, 2)) > 0.5
    emit("non_zero", "bool_3d", {"x": tensor(xb)}, [np.argwhere(xb).astype(I32)])
    xi = np.zeros((4,), I32)
    emit("non_zero", "int32_none", {"x": tensor(xi)}, [np.argwhere(xi).astype(I32).reshape(0, 1)])

    # ---- sliding_windows -----------------------------------------------------------------------------------
    def windows(x, axis, size, stride):
        n = (x.shape[axis] - size) // stride + 1
        ws = [np.take(x, np.arange(i * stride, i * stride + size), axis=axis) for i in range(n)]
        return np.stack(ws, axis=axis)

    x = f32(r, 2, 7, 3)
    emit("sliding_windows", "axis1_stride2", {"x": tensor(x), "axis": const(np.int32(1)), "size": const(np.int32(3)),
                                              "stride": const(np.int32(2))}, [windows(x, 1, 3, 2)])
    xi = np.arange(10, dtype=I32)
    emit("sliding_windows", "int32_default_stride", {"x": tensor(xi), "axis": const(np.int32(-1)), "size": const(np.int32(4))},
         [windows(xi, 0, 4, 1)])
    t = torch.from_numpy(x).unfold(1, 2, 3).permute(0, 1, 3, 2).numpy()  # torch unfold puts the window last
    emit("sliding_windows", "torch_unfold_check", {"x": tensor(x), "axis": const(np.int32(1)), "size": const(np.int32(2)),
                                                   "stride": const(np.int32(3))}, [t], oracle="torch")

    # ---- depth_to_space / space_to_depth (TF DCR order) ------------------------------------------------------
    def d2s(x, b):  # tf.nn.depth_to_space on NHWC, expressed for NCHW
        n, c, h, w = x.shape
        y = x.reshape(n, b, b, c // (b * b), h, w).transpose(0, 3, 4, 1, 5, 2)
        return y.reshape(n, c // (b * b), h * b, w * b)

    def s2d(x, b):
        n, c, h, w = x.shape
        y = x.reshape(n, c, h // b, b, w // b, b).transpose(0, 3, 5, 1, 2, 4)
        return y.reshape(n, c * b * b, h // b, w // b)

    x = arange((1, 8, 2, 3))
    emit("depth_to_space", "block2", {"x": tensor(x), "block_size": const(np.int32(2))}, [d2s(x, 2)])
    x = f32(r, 2, 9, 1, 2).astype(F16)
    emit("depth_to_space", "block3_fp16", {"x": tensor(x), "block_size": const(np.int32(3))}, [d2s(x, 3)])
    x = arange((1, 2, 4, 6))
    emit("space_to_depth", "block2", {"x": tensor(x), "block_size": const(np.int32(2))}, [s2d(x, 2)])
    x = f32(r, 2, 1, 3, 3)
    emit("space_to_depth", "block3_roundtrip_check", {"x": tensor(x), "block_size": const(np.int32(3))}, [s2d(x, 3)])

    # ---- pixel_shuffle / pixel_unshuffle (torch) ------------------------------------------------------------
    x = f32(r, 1, 8, 2, 3)
    emit("pixel_shuffle", "factor2", {"x": tensor(x), "upscale_factor": const(np.int32(2))},
         [torch.nn.functional.pixel_shuffle(torch.from_numpy(x), 2).numpy()], oracle="torch")
    x = f32(r, 2, 9, 2, 1).astype(F16)
    emit("pixel_shuffle", "factor3_fp16", {"x": tensor(x), "upscale_factor": const(np.int32(3))},
         [torch.nn.functional.pixel_shuffle(torch.from_numpy(x.astype(F32)), 3).numpy().astype(F16)], oracle="torch")
    x = f32(r, 1, 2, 4, 6)
    emit("pixel_unshuffle", "factor2", {"x": tensor(x), "downscale_factor": const(np.uint32(2), dtype="uint32")},
         [torch.nn.functional.pixel_unshuffle(torch.from_numpy(x), 2).numpy()], oracle="torch", opset="ios16")

    # ---- space_to_batch / batch_to_space (TF semantics, NCHW) --------------------------------------------------
    def s2b(x, block, pads):
        n, c, h, w = x.shape
        xp = np.pad(x, ((0, 0), (0, 0), tuple(pads[0]), tuple(pads[1])))
        hp, wp = xp.shape[2:]
        y = xp.reshape(n, c, hp // block[0], block[0], wp // block[1], block[1])
        y = y.transpose(3, 5, 0, 1, 2, 4)  # [bh, bw, n, c, h', w']
        return y.reshape(block[0] * block[1] * n, c, hp // block[0], wp // block[1])

    def b2s(x, block, crops):
        bn, c, h, w = x.shape
        n = bn // (block[0] * block[1])
        y = x.reshape(block[0], block[1], n, c, h, w).transpose(2, 3, 4, 0, 5, 1)
        y = y.reshape(n, c, h * block[0], w * block[1])
        return y[:, :, crops[0][0]:h * block[0] - crops[0][1], crops[1][0]:w * block[1] - crops[1][1]]

    x = arange((2, 1, 4, 4))
    emit("space_to_batch", "block2", {"x": tensor(x), "block_shape": const(np.array([2, 2], I32)),
                                      "paddings": const(np.zeros((2, 2), I32))}, [s2b(x, [2, 2], [[0, 0], [0, 0]])])
    x = f32(r, 1, 2, 3, 2)
    pads = np.array([[1, 0], [0, 1]], I32)
    emit("space_to_batch", "padded_block_2x3", {"x": tensor(x), "block_shape": const(np.array([2, 3], I32)),
                                                "paddings": const(pads)}, [s2b(x, [2, 3], pads)])
    x = arange((8, 1, 2, 3))
    emit("batch_to_space", "block2", {"x": tensor(x), "block_shape": const(np.array([2, 2], I32)),
                                      "crops": const(np.zeros((2, 2), I32))}, [b2s(x, [2, 2], [[0, 0], [0, 0]])])
    x = f32(r, 6, 2, 2, 2)
    crops = np.array([[1, 0], [0, 2]], I32)
    emit("batch_to_space", "cropped_block_2x3", {"x": tensor(x), "block_shape": const(np.array([2, 3], I32)),
                                                 "crops": const(crops)}, [b2s(x, [2, 3], crops)])

    # ---- crop / identity -----------------------------------------------------------------------------------------
    x = f32(r, 1, 2, 5, 6)
    emit("crop", "basic", {"x": tensor(x), "crop_height": const(np.array([1, 2], I32)), "crop_width": const(np.array([0, 3], I32))},
         [x[:, :, 1:5 - 2, 0:6 - 3]])
    x = f32(r, 2, 4, 4).astype(F16)
    emit("crop", "rank3_fp16", {"x": tensor(x), "crop_height": const(np.array([0, 0], I32)), "crop_width": const(np.array([2, 1], I32))},
         [x[:, :, 2:3]])
    x = f32(r, 3, 2)
    emit("identity", "fp32", {"x": tensor(x)}, [x])
    xi = np.arange(5, dtype=I32)
    emit("identity", "int32", {"x": tensor(xi)}, [xi])
    emit("identity", "bool_scalar", {"x": tensor(np.array(False))}, [np.array(False)])
