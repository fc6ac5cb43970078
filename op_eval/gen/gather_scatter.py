"""Op-eval cases for the gather_scatter family. Expected outputs come from NumPy (np.take,
np.take_along_axis, advanced indexing, ufunc.at) and PyTorch (torch.gather / scatter_reduce)."""
import warnings

import numpy as np
import torch

from common import const, rng, tensor

F32 = np.float32
F16 = np.float16
I32 = np.int32

UFUNC = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide, "max": np.maximum, "min": np.minimum}


def f32(r, *shape):
    return r.standard_normal(shape).astype(F32)


def gather_batch(x, idx, axis, batch_dims):
    """tf.gather(x, idx, axis, batch_dims) by explicit loops over the batch dims."""
    if batch_dims == 0:
        return np.take(x, idx, axis=axis)
    out = [gather_batch(x[b], idx[b], axis - 1, batch_dims - 1) for b in range(x.shape[0])]
    return np.stack(out)


def gather_nd(x, idx, batch_dims=0):
    """tf.gather_nd by advanced indexing."""
    if batch_dims:
        return np.stack([gather_nd(x[b], idx[b], batch_dims - 1) for b in range(x.shape[0])])
    k = idx.shape[-1]
    flat = idx.reshape(-1, k)
    rows = [x[tuple(t)] for t in flat]
    return np.array(rows, dtype=x.dtype).reshape(idx.shape[:-1] + x.shape[k:])


def scatter_axis(data, idx, upd, axis, mode):
    """MIL scatter: data[..., idx[i...], ...] op= updates[..., i..., ...], applied in order."""
    out = data.copy()
    axis = axis % data.ndim
    for u in np.ndindex(*upd.shape):
        i = u[axis:axis + idx.ndim]
        d = u[:axis] + (int(idx[i]),) + u[axis + idx.ndim:]
        out[d] = upd[u] if mode == "update" else UFUNC[mode](out[d], upd[u])
    return out


def scatter_nd(data, idx, upd, mode):
    out = data.copy()
    k = idx.shape[-1]
    lead = idx.ndim - 1
    for u in np.ndindex(*upd.shape):
        d = tuple(int(v) for v in idx[u[:lead]]) + u[lead:]
        out[d] = upd[u] if mode == "update" else UFUNC[mode](out[d], upd[u])
    assert k <= data.ndim
    return out


def generate(emit):
    r = rng(4321)

    # ---- gather --------------------------------------------------------------------------------------
    x = f32(r, 5, 3)
    idx = np.array([4, 0, 2, 2], I32)
    emit("gather", "axis0", {"x": tensor(x), "indices": tensor(idx)}, [np.take(x, idx, axis=0)])
    x = f32(r, 2, 4, 3)
    idx = np.array([[3, 1], [0, 0]], I32)
    emit("gather", "axis1_2d_indices", {"x": tensor(x), "indices": tensor(idx), "axis": const(np.int32(1))},
         [np.take(x, idx, axis=1)])
    emit("gather", "axis_neg1_const_indices", {"x": tensor(x), "indices": const(np.array([2, 0], I32)), "axis": const(np.int32(-1))},
         [np.take(x, [2, 0], axis=-1)])
    emit("gather", "scalar_index", {"x": tensor(x), "indices": tensor(np.array(3, I32)), "axis": const(np.int32(1))},
         [np.take(x, 3, axis=1)])
    xi = np.arange(12, dtype=I32).reshape(3, 4)
    emit("gather", "negative_indices_ios16", {"x": tensor(xi), "indices": tensor(np.array([-1, 0, -3], I32))},
         [np.take(xi, [-1, 0, -3], axis=0)], opset="ios16", note="negative indices count from the end (iOS15/16)")
    x = f32(r, 2, 3, 5)
    idx = np.array([[4, 0], [1, 1]], I32)
    t = torch.gather(torch.from_numpy(x), 2, torch.from_numpy(idx.astype(np.int64))[:, None, :].expand(2, 3, 2)).numpy()
    emit("gather", "batch_dims1", {"x": tensor(x), "indices": tensor(idx), "axis": const(np.int32(2)),
                                   "batch_dims": const(np.int32(1))}, [gather_batch(x, idx, 2, 1)])
    emit("gather", "batch_dims1_torch_check", {"x": tensor(x), "indices": tensor(idx), "axis": const(np.int32(-1)),
                                               "batch_dims": const(np.int32(1))}, [t], oracle="torch")
    x = f32(r, 2, 3, 4)
    idx = r.integers(0, 4, (2, 3, 2)).astype(I32)
    emit("gather", "batch_dims2", {"x": tensor(x), "indices": tensor(idx), "axis": const(np.int32(2)),
                                   "batch_dims": const(np.int32(2))}, [gather_batch(x, idx, 2, 2)])
    xh = f32(r, 4, 2).astype(F16)
    emit("gather", "fp16_uint16_indices", {"x": tensor(xh), "indices": tensor(np.array([3, 1], np.uint16))},
         [np.take(xh, [3, 1], axis=0)])
    xi8 = r.integers(-128, 127, (3, 3)).astype(np.int8)
    emit("gather", "int8_int8_indices_validate", {"x": tensor(xi8), "indices": const(np.array([2, 2, 0], np.int8)),
                                                  "axis": const(np.int32(1)), "validate_indices": const(np.bool_(True))},
         [np.take(xi8, [2, 2, 0], axis=1)])

    # ---- gather_along_axis ---------------------------------------------------------------------------
    x = f32(r, 3, 4)
    idx = r.integers(0, 3, (2, 4)).astype(I32)
    emit("gather_along_axis", "axis0", {"x": tensor(x), "indices": tensor(idx)}, [np.take_along_axis(x, idx, 0)])
    idx = r.integers(0, 4, (3, 6)).astype(I32)
    t = torch.gather(torch.from_numpy(x), 1, torch.from_numpy(idx.astype(np.int64))).numpy()
    emit("gather_along_axis", "axis1_torch", {"x": tensor(x), "indices": tensor(idx), "axis": const(np.int32(-1))}, [t], oracle="torch")
    xi = np.arange(24, dtype=I32).reshape(2, 3, 4)
    idx = r.integers(0, 3, (2, 1, 4)).astype(I32)
    emit("gather_along_axis", "int32_3d", {"x": tensor(xi), "indices": tensor(idx), "axis": const(np.int32(1))},
         [np.take_along_axis(xi, idx, 1)])
    idx = np.array([[-1, 0, -2, 1]], I32)
    emit("gather_along_axis", "negative_ios15", {"x": tensor(x), "indices": tensor(idx)}, [np.take_along_axis(x, idx, 0)],
         opset="ios15")
    xh = f32(r, 2, 5).astype(F16)
    idx = np.array([[4, 4], [0, 3]], np.int16)
    emit("gather_along_axis", "fp16_int16_indices", {"x": tensor(xh), "indices": tensor(idx), "axis": const(np.int32(1))},
         [np.take_along_axis(xh, idx.astype(np.int64), 1)])

    # ---- gather_nd -----------------------------------------------------------------------------------
    x = f32(r, 3, 4, 2)
    idx = np.array([[0, 1], [2, 3], [1, 0]], I32)
    emit("gather_nd", "slices", {"x": tensor(x), "indices": tensor(idx)}, [gather_nd(x, idx)])
    idx = np.array([[[2, 3, 1]], [[0, 0, 0]]], I32)
    emit("gather_nd", "full_index_3d_indices", {"x": tensor(x), "indices": tensor(idx)}, [gather_nd(x, idx)])
    idx = np.array([[1], [0]], I32)
    emit("gather_nd", "k1", {"x": tensor(x), "indices": tensor(idx)}, [gather_nd(x, idx)])
    x = f32(r, 2, 3, 4)
    idx = np.array([[[1, 2], [0, 3]], [[2, 0], [2, 2]]], I32)
    emit("gather_nd", "batch_dims1", {"x": tensor(x), "indices": tensor(idx), "batch_dims": const(np.int32(1))},
         [gather_nd(x, idx, 1)])
    xi = np.arange(6, dtype=I32).reshape(2, 3)
    emit("gather_nd", "int32_negative_ios15", {"x": tensor(xi), "indices": tensor(np.array([[-1, -1], [0, -3]], I32))},
         [np.array([xi[-1, -1], xi[0, -3]], I32)], opset="ios15")
    xh = f32(r, 3, 3).astype(F16)
    emit("gather_nd", "fp16_uint8_indices", {"x": tensor(xh), "indices": tensor(np.array([[2], [1]], np.uint8))},
         [gather_nd(xh, np.array([[2], [1]]))])

    # ---- scatter -------------------------------------------------------------------------------------
    data = f32(r, 4, 3)
    idx = np.array([1, 3], I32)
    upd = f32(r, 2, 3)
    for mode in ["update", "add", "sub", "mul", "div", "max", "min"]:
        emit("scatter", f"mode_{mode}", {"data": tensor(data), "indices": tensor(idx), "updates": tensor(upd),
                                          "mode": const(mode)}, [scatter_axis(data, idx, upd, 0, mode)])
    emit("scatter", "default_mode_add", {"data": tensor(data), "indices": tensor(idx), "updates": tensor(upd)},
         [scatter_axis(data, idx, upd, 0, "add")], note="coremltools materialises mode=add as the default")
    data = np.array([[1, 2, 3], [4, 5, 6]], I32)
    emit("scatter", "doc_example_int32_add", {"data": tensor(data), "indices": tensor(np.array([1, 0], I32)),
                                              "updates": tensor(np.array([[5, 6, 7], [8, 9, 10]], I32)), "mode": const("add")},
         [np.array([[9, 11, 13], [9, 11, 13]], I32)])
    data = f32(r, 2, 5)
    idx = np.array([4, 1, 4], I32)
    upd = f32(r, 2, 3)
    emit("scatter", "axis1_duplicates_add", {"data": tensor(data), "indices": tensor(idx), "updates": tensor(upd),
                                             "axis": const(np.int32(1)), "mode": const("add")},
         [scatter_axis(data, idx, upd, 1, "add")])
    idx2 = np.array([[0, 2], [3, 1]], I32)
    upd2 = f32(r, 2, 2, 2)
    emit("scatter", "axis_neg1_2d_indices_update", {"data": tensor(data), "indices": tensor(idx2), "updates": tensor(upd2),
                                                    "axis": const(np.int32(-1)), "mode": const("update")},
         [scatter_axis(data, idx2, upd2, -1, "update")])
    dh = f32(r, 3, 2).astype(F16)
    uh = f32(r, 1, 2).astype(F16)
    emit("scatter", "fp16_mul", {"data": tensor(dh), "indices": tensor(np.array([2], I32)), "updates": tensor(uh),
                                 "mode": const("mul")}, [scatter_axis(dh, np.array([2]), uh, 0, "mul")])
    di = np.arange(6, dtype=I32).reshape(3, 2)
    emit("scatter", "int32_max_ios15_negative", {"data": tensor(di), "indices": tensor(np.array([-1, 0], I32)),
                                                 "updates": tensor(np.array([[9, 0], [-5, 7]], I32)), "mode": const("max")},
         [scatter_axis(di, np.array([2, 0]), np.array([[9, 0], [-5, 7]], I32), 0, "max")], opset="ios15")

    # ---- scatter_along_axis ---------------------------------------------------------------------------
    data = f32(r, 3, 4)
    idx = r.integers(0, 3, (2, 4)).astype(I32)
    upd = f32(r, 2, 4)
    for mode in ["update", "add", "mul", "max", "min"]:
        exp = scatter_axis_along(data, idx, upd, 0, mode)
        emit("scatter_along_axis", f"axis0_{mode}", {"data": tensor(data), "indices": tensor(idx), "updates": tensor(upd),
                                                      "mode": const(mode)}, [exp])
    # numpy ufunc.at cross-check of add with repeated indices along axis 1
    idx = np.array([[0, 0, 3], [1, 2, 1], [3, 3, 3]], I32)
    upd = f32(r, 3, 3)
    exp = data.copy()
    np.add.at(exp, (np.arange(3)[:, None], idx), upd)
    emit("scatter_along_axis", "axis1_add_repeated", {"data": tensor(data), "indices": tensor(idx), "updates": tensor(upd),
                                                      "axis": const(np.int32(1)), "mode": const("add")}, [exp])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scatter_reduce is "beta" in torch 1.13
        t = torch.from_numpy(data.copy()).scatter_reduce(1, torch.from_numpy(idx.astype(np.int64)), torch.from_numpy(upd),
                                                         reduce="amax").numpy()
    emit("scatter_along_axis", "axis_neg1_max_torch", {"data": tensor(data), "indices": tensor(idx), "updates": tensor(upd),
                                                       "axis": const(np.int32(-1)), "mode": const("max")}, [t], oracle="torch")
    di = np.arange(8, dtype=I32).reshape(2, 4)
    idx = np.array([[3, 0], [1, 1]], I32)
    ui = np.array([[10, -2], [4, 6]], I32)
    emit("scatter_along_axis", "int32_sub", {"data": tensor(di), "indices": tensor(idx), "updates": tensor(ui),
                                             "axis": const(np.int32(1)), "mode": const("sub")},
         [scatter_axis_along(di, idx, ui, 1, "sub")])
    dh = f32(r, 2, 3).astype(F16)
    uh = f32(r, 1, 3).astype(F16)
    emit("scatter_along_axis", "fp16_div", {"data": tensor(dh), "indices": tensor(np.array([[1, 0, 1]], I32)),
                                            "updates": tensor(uh), "mode": const("div")},
         [scatter_axis_along(dh, np.array([[1, 0, 1]]), uh, 0, "div")])

    # ---- scatter_nd ----------------------------------------------------------------------------------
    data = f32(r, 4, 3)
    idx = np.array([[1], [3], [1]], I32)
    upd = f32(r, 3, 3)
    for mode in ["update", "add", "sub", "mul", "div", "max", "min"]:
        emit("scatter_nd", f"rows_{mode}", {"data": tensor(data), "indices": tensor(idx), "updates": tensor(upd),
                                             "mode": const(mode)}, [scatter_nd(data, idx, upd, mode)])
    data = f32(r, 2, 3, 4)
    idx = np.array([[[0, 2], [1, 1]], [[1, 0], [0, 2]]], I32)
    upd = f32(r, 2, 2, 4)
    emit("scatter_nd", "k2_2d_indices_add", {"data": tensor(data), "indices": tensor(idx), "updates": tensor(upd)},
         [scatter_nd(data, idx, upd, "add")])
    idx = np.array([[1, 2, 3], [0, 0, 0]], I32)
    upd = f32(r, 2)
    exp = data.copy()
    exp[(idx[:, 0], idx[:, 1], idx[:, 2])] = upd  # distinct targets: plain numpy advanced assignment
    emit("scatter_nd", "elements_update", {"data": tensor(data), "indices": tensor(idx), "updates": tensor(upd),
                                           "mode": const("update")}, [exp])
    di = np.zeros((3, 2), I32)
    emit("scatter_nd", "int32_add_ios15_negative", {"data": tensor(di), "indices": tensor(np.array([[-1, 0], [2, -2]], I32)),
                                                    "updates": tensor(np.array([3, 4], I32))},
         [np.array([[0, 0], [0, 0], [7, 0]], I32)], opset="ios15")
    dh = f32(r, 3, 2).astype(F16)
    uh = f32(r, 1, 2).astype(F16)
    emit("scatter_nd", "fp16_min", {"data": tensor(dh), "indices": tensor(np.array([[0]], I32)), "updates": tensor(uh),
                                    "mode": const("min")}, [scatter_nd(dh, np.array([[0]]), uh, "min")])


def scatter_axis_along(data, idx, upd, axis, mode):
    """MIL scatter_along_axis: out[..., idx[p], ...] op= upd[p] for each p in order (numpy put_along_axis / ufunc.at)."""
    out = data.copy()
    axis = axis % data.ndim
    if mode == "update":
        for p in np.ndindex(*idx.shape):
            d = p[:axis] + (int(idx[p]),) + p[axis + 1:]
            out[d] = upd[p]
        return out
    index = list(np.indices(idx.shape, sparse=True))
    index[axis] = idx
    UFUNC[mode].at(out, tuple(index), upd)
    return out
