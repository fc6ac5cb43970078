"""Op-eval cases for the image family.

Expectations come from PyTorch where it has the same op (F.interpolate, F.affine_grid + F.grid_sample) and
otherwise from NumPy written straight from the formulas in coremltools' op docstrings
(iOS15/image_resizing.py: resize_bilinear sampling modes, crop_resize box conventions; tf.image.crop_and_resize
for ALIGN_CORNERS crops; NMS from its definition, as in coremltools' reference implementation).
Everything is computed in float64 and rounded once to the case dtype."""
import numpy as np
import torch
import torch.nn.functional as F

from common import const, rng, tensor

F32, F16 = np.float32, np.float16


def uniform(seed, shape, lo=-2.0, hi=2.0, dtype=F32):
    return rng(seed).uniform(lo, hi, size=shape).astype(dtype)


def t64(a):
    return torch.from_numpy(np.asarray(a, dtype=np.float64))


# ---- NumPy sampling grids, transcribed from the resize_bilinear docstring ---------------------------------------

def doc_grid(mode, x_in, x_out):
    """Grid points over the input interval [0, x_in - 1] (x_in may be fractional for crop boxes: x_in - 1 = L)."""
    i = np.arange(x_out, dtype=np.float64)
    if mode == "STRICT_ALIGN_CORNERS" or (mode == "ALIGN_CORNERS" and x_out > 1):
        g = i * ((x_in - 1) / (x_out - 1)) if x_out > 1 else np.zeros(1)
    elif mode == "ALIGN_CORNERS":
        g = np.array([(x_in - 1) / 2.0])
    elif mode == "DEFAULT":
        g = i * ((x_in - x_in / x_out) / (x_out - 1)) if x_out > 1 else np.zeros(1)
    elif mode == "OFFSET_CORNERS":
        delta = max(1.0, x_in - 1) / x_out
        spacing = ((x_out - 1) * delta) / (x_out - 1) if x_out > 1 else delta
        g = 0.5 * delta + i * spacing
    elif mode == "UNALIGN_CORNERS":
        spacing = x_in / x_out
        g = i * spacing + 0.5 * spacing - 0.5
    else:
        raise ValueError(mode)
    return np.minimum(x_in - 1, np.maximum(0.0, g))


def lerp_axis(x, grid, axis):
    """Linear interpolation of x along `axis` at fractional positions `grid` (within [0, n-1])."""
    n = x.shape[axis]
    lo = np.clip(np.floor(grid).astype(np.int64), 0, n - 1)
    hi = np.minimum(lo + 1, n - 1)
    w = grid - np.floor(grid)
    shape = [1] * x.ndim
    shape[axis] = -1
    w = w.reshape(shape)
    return np.take(x, lo, axis=axis) * (1 - w) + np.take(x, hi, axis=axis) * w


def doc_resize_bilinear(x, h_out, w_out, mode):
    x = np.asarray(x, np.float64)
    y = lerp_axis(x, doc_grid(mode, x.shape[-2], h_out), x.ndim - 2)
    return lerp_axis(y, doc_grid(mode, x.shape[-1], w_out), x.ndim - 1)


def torch_resize(x, size, mode, align_corners=None):
    out = F.interpolate(t64(x), size=size, mode=mode, align_corners=align_corners)
    return out.numpy()


# ---- resize_bilinear / resize_nearest_neighbor / upsample_* --------------------------------------------------------

def gen_resize_bilinear(emit):
    x = uniform(1, (1, 2, 3, 4))
    emit("resize_bilinear", "strict_align_corners",
         {"x": tensor(x), "target_size_height": const(np.int32(5)), "target_size_width": const(np.int32(7)),
          "sampling_mode": const("STRICT_ALIGN_CORNERS")},
         [torch_resize(x, (5, 7), "bilinear", True).astype(F32)], oracle="torch",
         note="STRICT_ALIGN_CORNERS == torch bilinear align_corners=True")
    emit("resize_bilinear", "unalign_corners",
         {"x": tensor(x), "target_size_height": const(np.int32(5)), "target_size_width": const(np.int32(3)),
          "sampling_mode": const("UNALIGN_CORNERS")},
         [torch_resize(x, (5, 3), "bilinear", False).astype(F32)], oracle="torch",
         note="UNALIGN_CORNERS == torch bilinear align_corners=False (half-pixel, clamped at 0)")
    for mode, (ho, wo) in [("DEFAULT", (6, 3)), ("OFFSET_CORNERS", (5, 6)), ("ALIGN_CORNERS", (1, 5)),
                           ("STRICT_ALIGN_CORNERS", (1, 1))]:
        emit("resize_bilinear", mode.lower() + f"_{ho}x{wo}",
             {"x": tensor(x), "target_size_height": const(np.int32(ho)), "target_size_width": const(np.int32(wo)),
              "sampling_mode": const(mode)},
             [doc_resize_bilinear(x, ho, wo, mode).astype(F32)], oracle="numpy")
    # Defaults: target 1x1, sampling DEFAULT -> the top-left pixel.
    emit("resize_bilinear", "defaults", {"x": tensor(x)}, [doc_resize_bilinear(x, 1, 1, "DEFAULT").astype(F32)],
         oracle="numpy")
    # The docstring's own grid examples (Xin = 2 over x = [0, 1] the output equals the grid).
    x2 = np.array([0, 1], F32).reshape(1, 1, 2)
    for mode, grid in [("UNALIGN_CORNERS", [0.0, 0.1, 0.5, 0.9, 1.0]), ("STRICT_ALIGN_CORNERS", [0.0, 0.25, 0.5, 0.75, 1.0]),
                       ("DEFAULT", [0.0, 0.4, 0.8, 1.0, 1.0]), ("OFFSET_CORNERS", [0.1, 0.3, 0.5, 0.7, 0.9])]:
        emit("resize_bilinear", "doc_grid_" + mode.lower(),
             {"x": tensor(x2), "target_size_height": const(np.int32(1)), "target_size_width": const(np.int32(5)),
              "sampling_mode": const(mode)},
             [np.array(grid, F32).reshape(1, 1, 5)], oracle="coremltools-doc")
    xh = uniform(2, (2, 3, 5), dtype=F16)
    emit("resize_bilinear", "fp16_rank3",
         {"x": tensor(xh), "target_size_height": const(np.int32(4)), "target_size_width": const(np.int32(8)),
          "sampling_mode": const("UNALIGN_CORNERS")},
         [torch_resize(xh[None], (4, 8), "bilinear", False)[0].astype(F16)], oracle="torch")


def gen_nearest(emit):
    x = uniform(3, (1, 2, 3, 4))
    emit("resize_nearest_neighbor", "upsample",
         {"x": tensor(x), "target_size_height": const(np.int32(7)), "target_size_width": const(np.int32(10))},
         [torch_resize(x, (7, 10), "nearest").astype(F32)], oracle="torch")
    emit("resize_nearest_neighbor", "downsample",
         {"x": tensor(x), "target_size_height": const(np.int32(2)), "target_size_width": const(np.int32(3))},
         [torch_resize(x, (2, 3), "nearest").astype(F32)], oracle="torch")
    xh = uniform(4, (3, 2, 3), dtype=F16)
    emit("resize_nearest_neighbor", "fp16_rank3",
         {"x": tensor(xh), "target_size_height": const(np.int32(4)), "target_size_width": const(np.int32(5))},
         [torch_resize(xh[None], (4, 5), "nearest")[0].astype(F16)], oracle="torch")

    emit("upsample_nearest_neighbor", "int_scales",
         {"x": tensor(x), "scale_factor_height": const(np.int32(2)), "scale_factor_width": const(np.int32(3))},
         [F.interpolate(t64(x), scale_factor=(2, 3), mode="nearest").numpy().astype(F32)], oracle="torch")
    emit("upsample_nearest_neighbor", "float_scales",
         {"x": tensor(x), "scale_factor_height": const(F32(2.0)), "scale_factor_width": const(F32(1.5))},
         [torch_resize(x, (6, 6), "nearest").astype(F32)], oracle="torch",
         note="H2 = floor(3*2) = 6, W2 = floor(4*1.5) = 6; nearest index floor(i * in / out)")
    emit("upsample_nearest_neighbor", "defaults", {"x": tensor(x)}, [x], oracle="numpy")
    # coremltools' TestUpsampleNearestNeighborFractionalScales.
    xd = np.array([1.5, -2.5, 3.5], F32).reshape(1, 1, 1, 3)
    emit("upsample_nearest_neighbor", "doc_fractional",
         {"x": tensor(xd), "scale_factor_height": const(F32(3.17)), "scale_factor_width": const(F32(0.67))},
         [np.array([1.5, -2.5, 1.5, -2.5, 1.5, -2.5], F32).reshape(1, 1, 3, 2)], oracle="coremltools-test")
    xh = uniform(5, (2, 2, 3), dtype=F16)
    emit("upsample_nearest_neighbor", "fp16",
         {"x": tensor(xh), "scale_factor_height": const(np.int32(2)), "scale_factor_width": const(np.int32(2))},
         [F.interpolate(t64(xh[None]), scale_factor=2, mode="nearest").numpy()[0].astype(F16)], oracle="torch")


def gen_upsample_bilinear(emit):
    x = uniform(6, (1, 2, 3, 4))
    emit("upsample_bilinear", "align_corners",
         {"x": tensor(x), "scale_factor_height": const(np.int32(2)), "scale_factor_width": const(np.int32(3)),
          "align_corners": const(True)},
         [torch_resize(x, (6, 12), "bilinear", True).astype(F32)], oracle="torch")
    emit("upsample_bilinear", "half_pixel",
         {"x": tensor(x), "scale_factor_height": const(np.int32(2)), "scale_factor_width": const(np.int32(2)),
          "align_corners": const(False)},
         [torch_resize(x, (6, 8), "bilinear", False).astype(F32)], oracle="torch",
         note="iOS16+: half_pixel_centers defaults to !align_corners")
    emit("upsample_bilinear", "ios15_align_false",
         {"x": tensor(x), "scale_factor_height": const(F32(1.5)), "scale_factor_width": const(F32(2.5)),
          "align_corners": const(False)},
         [torch_resize(x, (4, 10), "bilinear", False).astype(F32)], oracle="torch", opset="ios15",
         note="fractional scales: spacing recomputed from the output size (recompute_scale_factor=True)")
    emit("upsample_bilinear", "no_half_pixel",
         {"x": tensor(x), "scale_factor_height": const(np.int32(2)), "scale_factor_width": const(np.int32(3)),
          "align_corners": const(False), "half_pixel_centers": const(False)},
         [doc_resize_bilinear(x, 6, 12, "DEFAULT").astype(F32)], oracle="numpy",
         note="align_corners=False, half_pixel_centers=False: tf legacy grid i * in / out")
    emit("upsample_bilinear", "defaults_align_corners", {"x": tensor(x), "scale_factor_width": const(np.int32(2))},
         [torch_resize(x, (3, 8), "bilinear", True).astype(F32)], oracle="torch")
    xh = uniform(7, (2, 3, 3), dtype=F16)
    emit("upsample_bilinear", "fp16",
         {"x": tensor(xh), "scale_factor_height": const(F32(2.0)), "scale_factor_width": const(F32(2.0)),
          "align_corners": const(True)},
         [torch_resize(xh[None], (6, 6), "bilinear", True)[0].astype(F16)], oracle="torch")


def gen_resize(emit):
    x = uniform(8, (1, 2, 3, 4))
    emit("resize", "linear_default_2d",
         {"x": tensor(x), "shape": const(np.array([5, 6], np.int32)), "resized_dims": const(np.uint32(2), "uint32")},
         [doc_resize_bilinear(x, 5, 6, "DEFAULT").astype(F32)], oracle="numpy", opset="ios17")
    emit("resize", "linear_strict_align",
         {"x": tensor(x), "shape": const(np.array([1, 2, 5, 7], np.int32)),
          "resized_dims": const(np.uint32(2), "uint32"), "sampling_mode": const("STRICT_ALIGN_CORNERS")},
         [torch_resize(x, (5, 7), "bilinear", True).astype(F32)], oracle="torch", opset="ios17")
    emit("resize", "nearest_default",
         {"x": tensor(x), "shape": const(np.array([6, 3], np.int32)), "resized_dims": const(np.uint32(2), "uint32"),
          "interpolation_mode": const("NEAREST_NEIGHBOR")},
         [torch_resize(x, (6, 3), "nearest").astype(F32)], oracle="torch", opset="ios17")
    x3 = uniform(9, (2, 3, 5))
    emit("resize", "linear_1d_unalign",
         {"x": tensor(x3), "shape": const(np.array([9], np.int32)), "resized_dims": const(np.uint32(1), "uint32"),
          "sampling_mode": const("UNALIGN_CORNERS")},
         [F.interpolate(t64(x3), size=9, mode="linear", align_corners=False).numpy().astype(F32)],
         oracle="torch", opset="ios17")
    # 0 in shape keeps x's size; a runtime (non-const) shape input.
    emit("resize", "runtime_shape_keep_dim",
         {"x": tensor(x), "shape": tensor(np.array([0, 8], np.int32)), "resized_dims": const(np.uint32(2), "uint32"),
          "sampling_mode": const("ALIGN_CORNERS")},
         [torch_resize(x, (3, 8), "bilinear", True).astype(F32)], oracle="torch", opset="ios17")
    xh = uniform(10, (1, 1, 4, 4), dtype=F16)
    emit("resize", "fp16_offset_corners",
         {"x": tensor(xh), "shape": const(np.array([2, 3], np.int32)), "resized_dims": const(np.uint32(2), "uint32"),
          "sampling_mode": const("OFFSET_CORNERS")},
         [doc_resize_bilinear(xh, 2, 3, "OFFSET_CORNERS").astype(F16)], oracle="numpy", opset="ios17")


# ---- crop_resize ----------------------------------------------------------------------------------------------

def box_corners(box, mode):
    """[y0, x0, y1, x1] from the 4 box values per the box_coordinate_mode docstring."""
    a, b, c, d = [float(v) for v in box]
    if mode == "CORNERS_HEIGHT_FIRST":
        return a, b, c, d
    if mode == "CORNERS_WIDTH_FIRST":
        return b, a, d, c
    if mode == "CENTER_SIZE_HEIGHT_FIRST":
        return a - c / 2, b - d / 2, a + c / 2, b + d / 2
    if mode == "CENTER_SIZE_WIDTH_FIRST":
        return b - d / 2, a - c / 2, b + d / 2, a + c / 2
    raise ValueError(mode)


def crop_grid(mode, start, end, n):
    """Sampling grid over the box interval [start, end]: the resize_bilinear modes with [0, Xin-1] := [0, end-start]."""
    return start + doc_grid_signed(mode, end - start, n)


def doc_grid_signed(mode, L, n):
    if L >= 0:
        return doc_grid(mode, L + 1, n)
    return -doc_grid(mode, -L + 1, n)


def bilinear_or_pad(img, y, x, pad):
    """tf.image.crop_and_resize sampling of a 2D image: outside [0, H-1] x [0, W-1] -> pad."""
    H, W = img.shape
    if y < 0 or y > H - 1 or x < 0 or x > W - 1:
        return pad
    y0, x0 = int(np.floor(y)), int(np.floor(x))
    y1, x1 = min(y0 + 1, H - 1), min(x0 + 1, W - 1)
    wy, wx = y - y0, x - x0
    top = img[y0, x0] * (1 - wx) + img[y0, x1] * wx
    bot = img[y1, x0] * (1 - wx) + img[y1, x1] * wx
    return top * (1 - wy) + bot * wy


def np_crop(img_chw, box, th, tw, mode, box_mode, normalized, scale, pad):
    C, H, W = img_chw.shape
    y0, x0, y1, x1 = box_corners(box, box_mode)
    sy = (H - 1 if normalized else 1) * scale
    sx = (W - 1 if normalized else 1) * scale
    y0, y1, x0, x1 = y0 * sy, y1 * sy, x0 * sx, x1 * sx
    gy, gx = crop_grid(mode, y0, y1, th), crop_grid(mode, x0, x1, tw)
    out = np.zeros((C, th, tw))
    for c in range(C):
        for i in range(th):
            for j in range(tw):
                out[c, i, j] = bilinear_or_pad(img_chw[c].astype(np.float64), gy[i], gx[j], pad)
    return out


def tf_crop_and_resize(img_chw, box_norm, th, tw, pad):
    """tf.image.crop_and_resize (normalized [y1, x1, y2, x2] boxes), written from its documentation."""
    C, H, W = img_chw.shape
    y1, x1, y2, x2 = box_norm
    out = np.zeros((C, th, tw))
    for i in range(th):
        y = y1 * (H - 1) + i * (y2 - y1) * (H - 1) / (th - 1) if th > 1 else 0.5 * (y1 + y2) * (H - 1)
        for j in range(tw):
            x = x1 * (W - 1) + j * (x2 - x1) * (W - 1) / (tw - 1) if tw > 1 else 0.5 * (x1 + x2) * (W - 1)
            for c in range(C):
                out[c, i, j] = bilinear_or_pad(img_chw[c].astype(np.float64), y, x, pad)
    return out


def gen_crop_resize(emit):
    x = uniform(11, (2, 2, 5, 6))
    # iOS15, 4-value RoIs: every box on every image -> [N, B, C, th, tw].
    boxes = np.array([[0.5, 1.0, 3.5, 4.0], [1.0, 0.0, 4.0, 5.0]], F32)
    roi = boxes.reshape(2, 1, 4, 1, 1)
    exp = np.stack([np.stack([np_crop(x[b], bx, 3, 4, "ALIGN_CORNERS", "CORNERS_HEIGHT_FIRST", False, 1.0, 0.0)
                              for b in range(2)]) for bx in boxes])
    emit("crop_resize", "ios15_roi4_all_batches",
         {"x": tensor(x), "roi": tensor(roi), "target_height": const(np.int32(3)), "target_width": const(np.int32(4)),
          "sampling_mode": const("ALIGN_CORNERS")},
         [exp.astype(F32)], oracle="numpy", opset="ios15")
    # Normalized ALIGN_CORNERS against tf.image.crop_and_resize, 5-value RoIs with a batch index.
    nb = np.array([[1, 0.1, 0.2, 0.8, 0.9], [0, 0.0, 0.5, 0.5, 1.0], [1, 0.3, 0.3, 0.3, 0.9]], F32)
    exp = np.stack([tf_crop_and_resize(x[int(r[0])], r[1:], 4, 3, 0.0)[None] for r in nb])
    emit("crop_resize", "ios15_roi5_normalized_tf",
         {"x": tensor(x), "roi": tensor(nb.reshape(3, 1, 5, 1, 1)), "target_height": const(np.int32(4)),
          "target_width": const(np.int32(3)), "normalized_coordinates": const(True),
          "sampling_mode": const("ALIGN_CORNERS")},
         [exp.astype(F32)], oracle="numpy", opset="ios15", note="ALIGN_CORNERS == tf.image.crop_and_resize")
    # Other sampling and box modes (iOS16, pad_value with a box leaving the image).
    cases = [("STRICT_ALIGN_CORNERS", "CORNERS_WIDTH_FIRST", [1.0, 0.5, 5.0, 3.0], 1.0, 0.0),
             ("DEFAULT", "CENTER_SIZE_HEIGHT_FIRST", [2.0, 2.5, 3.0, 4.0], 1.0, 0.0),
             ("OFFSET_CORNERS", "CENTER_SIZE_WIDTH_FIRST", [5.0, 4.0, 4.0, 6.0], 0.5, 0.0),
             ("UNALIGN_CORNERS", "CORNERS_HEIGHT_FIRST", [-1.0, -2.0, 3.0, 7.5], 1.0, -3.0)]
    for mode, bmode, bx, scale, pad in cases:
        bx = np.array(bx, F32)
        exp = np.stack([np_crop(x[int(0)], bx, 3, 3, mode, bmode, False, scale, pad)])[:, None]
        emit("crop_resize", "ios16_" + mode.lower(),
             {"x": tensor(x[:1]), "roi": tensor(np.concatenate([[0], bx]).astype(F32).reshape(1, 1, 5, 1, 1)),
              "target_height": const(np.int32(3)), "target_width": const(np.int32(3)),
              "spatial_scale": const(F32(scale)), "box_coordinate_mode": const(bmode), "sampling_mode": const(mode),
              "pad_value": const(F32(pad))},
             [exp.astype(F32)], oracle="numpy", opset="ios16")
    # iOS17: boxes [N, 4] + box_indices -> [N, C, th, tw].
    b17 = np.array([[0.0, 0.0, 4.0, 5.0], [1.5, 2.0, 3.5, 5.5], [2.0, 1.0, 2.0, 4.0]], F32)
    idx = np.array([1, 0, 1], np.int32)
    exp = np.stack([np_crop(x[i], b, 2, 4, "ALIGN_CORNERS", "CORNERS_HEIGHT_FIRST", False, 1.0, 0.0)
                    for b, i in zip(b17, idx)])
    emit("crop_resize", "ios17_boxes_indices",
         {"x": tensor(x), "boxes": tensor(b17), "box_indices": tensor(idx), "target_height": const(np.int32(2)),
          "target_width": const(np.int32(4)), "sampling_mode": const("ALIGN_CORNERS")},
         [exp.astype(F32)], oracle="numpy", opset="ios17")
    b2 = np.array([[0.25, 0.0, 1.0, 0.75], [0.0, 0.5, 0.5, 1.0]], F32)
    exp = np.stack([tf_crop_and_resize(x[i], b, 3, 2, 0.0) for i, b in enumerate(b2)])
    emit("crop_resize", "ios17_default_indices_normalized",
         {"x": tensor(x), "boxes": tensor(b2), "target_height": const(np.int32(3)), "target_width": const(np.int32(2)),
          "normalized_coordinates": const(True), "sampling_mode": const("ALIGN_CORNERS")},
         [exp.astype(F32)], oracle="numpy", opset="ios17", note="box_indices defaults to [0..N-1]")
    xh = x[:1].astype(F16)
    bh = np.array([[0.5, 0.5, 3.5, 4.5]], F16)
    exp = np_crop(xh[0], bh[0], 3, 3, "DEFAULT", "CORNERS_HEIGHT_FIRST", False, 1.0, 0.0)[None]
    emit("crop_resize", "ios17_fp16", {"x": tensor(xh), "boxes": tensor(bh), "target_height": const(np.int32(3)),
                                       "target_width": const(np.int32(3))},
         [exp.astype(F16)], oracle="numpy", opset="ios17")


# ---- affine / resample (torch grid_sample) -----------------------------------------------------------------------

def torch_affine(x, m, oh, ow, align):
    B, C = x.shape[:2]
    theta = t64(m).reshape(-1, 2, 3).expand(B, 2, 3)
    grid = F.affine_grid(theta, (B, C, oh, ow), align_corners=align)
    return F.grid_sample(t64(x), grid, mode="bilinear", padding_mode="zeros", align_corners=align).numpy()


def affine_inputs(x, m, oh, ow, align, dtype=F32):
    return {"x": tensor(x), "transform_matrix": tensor(m), "output_height": const(np.int32(oh)),
            "output_width": const(np.int32(ow)), "sampling_mode": const("bilinear"), "padding_mode": const("constant"),
            "padding_value": const(dtype(0.0)), "coordinates_mode": const("normalized_minus_one_to_one"),
            "align_corners": const(align)}


def gen_affine(emit):
    x = uniform(12, (2, 2, 4, 5))
    m = np.array([[0.9, -0.2, 0.1, 0.3, 1.1, -0.05], [1.2, 0.0, -0.3, 0.0, 0.8, 0.2]], F32)
    emit("affine", "per_batch_align_corners", affine_inputs(x, m, 3, 4, True),
         [torch_affine(x, m, 3, 4, True).astype(F32)], oracle="torch", note="torch affine_grid + grid_sample")
    m1 = np.array([[0.7, 0.3, 0.0, -0.3, 0.7, 0.1]], F32)
    emit("affine", "shared_matrix_align_false", affine_inputs(x, m1, 5, 3, False),
         [torch_affine(x, m1, 5, 3, False).astype(F32)], oracle="torch")
    # coremltools TestAffine smoke values.
    xd = np.array([11.0, 22.0, 33.0, 44.0], F32).reshape(1, 1, 2, 2)
    md = np.array([-1.0, -2.0, -3.7, -1.0, 3.5, 1.2], F32).reshape(1, 6)
    emit("affine", "coremltools_smoke", affine_inputs(xd, md, 2, 5, True),
         [np.array([10.752501, 5.94, 2.5025, 0.44000006, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], F32).reshape(1, 1, 2, 5)],
         oracle="coremltools-test")
    xh = uniform(13, (1, 1, 3, 3), dtype=F16)
    mh = np.array([[1.0, 0.0, 0.25, 0.0, 1.0, -0.25]], F16)
    emit("affine", "fp16", affine_inputs(xh, mh, 3, 3, True, F16),
         [torch_affine(xh, mh, 3, 3, True).astype(F16)], oracle="torch")


def resample_inputs(x, coords, sampling, padding, pad_value, cmode, align, dtype=F32):
    return {"x": tensor(x), "coordinates": tensor(coords), "sampling_mode": const(sampling),
            "padding_mode": const(padding), "padding_value": const(dtype(pad_value)), "coordinates_mode": const(cmode),
            "align_corners": const(align)}


def torch_grid_sample(x, grid_norm, mode, padding, align):
    return F.grid_sample(t64(x), t64(grid_norm), mode=mode, padding_mode=padding, align_corners=align).numpy()


def gen_resample(emit):
    x = uniform(14, (2, 2, 4, 5))
    g = uniform(15, (2, 3, 4, 2), -1.4, 1.4)
    emit("resample", "bilinear_zeros_align",
         resample_inputs(x, g, "bilinear", "constant", 0.0, "normalized_minus_one_to_one", True),
         [torch_grid_sample(x, g, "bilinear", "zeros", True).astype(F32)], oracle="torch")
    emit("resample", "bilinear_border_unaligned",
         resample_inputs(x, g, "bilinear", "border", 0.0, "normalized_minus_one_to_one", False),
         [torch_grid_sample(x, g, "bilinear", "border", False).astype(F32)], oracle="torch")
    # constant padding with a value v: bilinear is affine in x, so sample(x - v, zeros) + v.
    emit("resample", "bilinear_constant_value",
         resample_inputs(x, g, "bilinear", "constant", 2.5, "normalized_minus_one_to_one", False),
         [(torch_grid_sample(x - 2.5, g, "bilinear", "zeros", False) + 2.5).astype(F32)], oracle="torch")
    gr = uniform(16, (2, 3, 4, 2), -3.0, 3.0)
    emit("resample", "bilinear_reflection",
         resample_inputs(x, gr, "bilinear", "reflection", 0.0, "normalized_minus_one_to_one", True),
         [torch_grid_sample(x, gr, "bilinear", "reflection", True).astype(F32)], oracle="torch",
         note="reflection about the corner pixel centres == torch reflection, align_corners=True")
    emit("resample", "bilinear_symmetric",
         resample_inputs(x, gr, "bilinear", "symmetric", 0.0, "normalized_minus_one_to_one", False),
         [torch_grid_sample(x, gr, "bilinear", "reflection", False).astype(F32)], oracle="torch",
         note="symmetric == torch reflection with align_corners=False (coremltools torch frontend mapping)")
    # nearest, unnormalized pixel coordinates (converted to torch's [-1, 1] with align_corners=True).
    gp = uniform(17, (2, 2, 3, 2), -1.0, 5.0)
    scale = np.array([x.shape[3] - 1, x.shape[2] - 1], np.float64)
    gn = gp / scale * 2 - 1
    emit("resample", "nearest_unnormalized_border",
         resample_inputs(x, gp, "nearest", "border", 0.0, "unnormalized", False),
         [torch_grid_sample(x, gn, "nearest", "border", True).astype(F32)], oracle="torch")
    # zero_to_one coordinates: c -> 2c - 1.
    gz = uniform(18, (2, 3, 3, 2), -0.2, 1.2)
    emit("resample", "bilinear_zero_to_one_zeros",
         resample_inputs(x, gz, "bilinear", "constant", 0.0, "normalized_zero_to_one", False),
         [torch_grid_sample(x, gz * 2 - 1, "bilinear", "zeros", False).astype(F32)], oracle="torch")
    # int32 pixel coordinates.
    gi = rng(19).integers(-1, 6, size=(2, 2, 2, 2)).astype(np.int32)
    emit("resample", "int_coordinates_constant",
         resample_inputs(x, gi, "bilinear", "constant", 0.0, "unnormalized", True),
         [torch_grid_sample(x, gi / scale * 2 - 1, "bilinear", "zeros", True).astype(F32)], oracle="torch")
    # coremltools TestResample smoke values (fp32 coordinates, four configurations).
    xd = np.array([11.0, 22.0, 33.0, 44.0], F32).reshape(1, 1, 2, 2)
    cd = np.array([-1.0, -2.0, -3.7, -1.0, 0.0, 0.0, 3.5, 1.2], F32).reshape(1, 2, 2, 2)
    for name, args, exp in [
            ("ct_bilinear_constant", ("bilinear", "constant", 6.17, "normalized_minus_one_to_one", True),
             [8.585, 6.17, 27.5, 6.17]),
            ("ct_nearest_border", ("nearest", "border", -1.0, "unnormalized", False), [11.0, 11.0, 11.0, 44.0]),
            ("ct_bilinear_reflection", ("bilinear", "reflection", -1.0, "normalized_zero_to_one", True),
             [22.0, 36.3, 11.0, 34.1]),
            ("ct_nearest_symmetric", ("nearest", "symmetric", -1.0, "normalized_zero_to_one", False),
             [22.0, 33.0, 11.0, 33.0])]:
        emit("resample", name, resample_inputs(xd, cd, *args), [np.array(exp, F32).reshape(1, 1, 2, 2)],
             oracle="coremltools-test")
    xh = uniform(20, (1, 2, 3, 3), dtype=F16)
    gh = uniform(21, (1, 2, 2, 2), -1.0, 1.0, F16)
    emit("resample", "fp16", resample_inputs(xh, gh, "bilinear", "constant", 0.0, "normalized_minus_one_to_one", True,
                                             F16),
         [torch_grid_sample(xh, gh, "bilinear", "zeros", True).astype(F16)], oracle="torch", opset="ios16")


# ---- non_maximum_suppression -------------------------------------------------------------------------------------

def iou_cs(a, b):
    """IoU of [cx, cy, w, h] boxes."""
    ax0, ax1, ay0, ay1 = a[0] - a[2] / 2, a[0] + a[2] / 2, a[1] - a[3] / 2, a[1] + a[3] / 2
    bx0, bx1, by0, by1 = b[0] - b[2] / 2, b[0] + b[2] / 2, b[1] - b[3] / 2, b[1] + b[3] / 2
    iw = max(0.0, min(ax1, bx1) - max(ax0, bx0))
    ih = max(0.0, min(ay1, by1) - max(ay0, by0))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def np_nms(boxes, scores, iou_t, score_t, max_boxes, per_class):
    n, nb, K = scores.shape
    ob = np.zeros((n, max_boxes, 4))
    osc = np.zeros((n, max_boxes, K))
    oi = -np.ones((n, max_boxes), np.int32)
    oc = np.zeros((n,), np.int32)
    for b in range(n):
        best = scores[b].max(axis=1)
        cls = scores[b].argmax(axis=1)
        order = np.argsort(-best, kind="stable")
        kept = []
        for i in order:
            if len(kept) == max_boxes:
                break
            if not best[i] > score_t:
                continue
            if any((not per_class or cls[i] == cls[j]) and iou_cs(boxes[b, i], boxes[b, j]) > iou_t for j in kept):
                continue
            kept.append(i)
        if not kept:
            kept = [int(np.argmax(best))]  # coremltools' reference: the best box survives alone
        oc[b] = len(kept)
        for s, i in enumerate(kept):
            ob[b, s], osc[b, s], oi[b, s] = boxes[b, i], scores[b, i], i
    return ob, osc, oi, oc


def nms_case(emit, name, boxes, scores, iou_t, score_t, max_boxes, per_class, opset="ios18", dtype=F32, note=None):
    inputs = {"boxes": tensor(boxes.astype(dtype)), "scores": tensor(scores.astype(dtype)),
              "iou_threshold": const(dtype(iou_t)), "max_boxes": const(np.int32(max_boxes)),
              "per_class_suppression": const(per_class)}
    if score_t is not None:
        inputs["score_threshold"] = const(dtype(score_t))
    ob, osc, oi, oc = np_nms(boxes.astype(dtype).astype(np.float64), scores.astype(dtype).astype(np.float64),
                             float(dtype(iou_t)), -np.inf if score_t is None else float(dtype(score_t)), max_boxes,
                             per_class)
    emit("non_maximum_suppression", name, inputs, [ob.astype(dtype), osc.astype(dtype), oi, oc], oracle="numpy",
         opset=opset, note=note)


def gen_nms(emit):
    # coremltools' smoke test.
    boxes = np.array([[[0, 0, 0, 0], [1, 1, 1, 1], [2, 2, 2, 2], [3, 3, 3, 3]]], F32)
    scores = np.array([[[-3.5], [9.4], [2.3], [0.7]]], F32)
    nms_case(emit, "coremltools_smoke", boxes, scores, 0.2, 0.4, 2, True, opset="ios15")
    r = rng(22)
    centers = r.uniform(0, 10, size=(2, 12, 2))
    sizes = r.uniform(1, 5, size=(2, 12, 2))
    boxes = np.concatenate([centers, sizes], axis=-1).astype(F32)
    scores = r.permutation(2 * 12 * 3).reshape(2, 12, 3).astype(F32) / 10 - 3  # distinct scores
    nms_case(emit, "batch2_global", boxes, scores, 0.3, 0.0, 5, False, opset="ios16")
    nms_case(emit, "batch2_per_class", boxes, scores, 0.3, 0.0, 8, True, opset="ios16")
    nms_case(emit, "pads_to_max_boxes", boxes, scores, 0.1, 3.0, 10, False, opset="ios15",
             note="few survivors: boxes/scores padded with 0, indices with -1")
    nms_case(emit, "nothing_survives", boxes, scores, 0.5, 100.0, 3, False, opset="ios15",
             note="coremltools' reference returns the best box when every score is below the threshold")
    nms_case(emit, "ios17_no_score_threshold", boxes, scores, 0.4, None, 6, False, opset="ios17")
    nms_case(emit, "ios17_fp16_per_class", boxes, scores, 0.4, None, 4, True, opset="ios17", dtype=F16)


def generate(emit):
    gen_resize_bilinear(emit)
    gen_nearest(emit)
    gen_upsample_bilinear(emit)
    gen_resize(emit)
    gen_crop_resize(emit)
    gen_affine(emit)
    gen_resample(emit)
    gen_nms(emit)
