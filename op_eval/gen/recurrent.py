"""Op-eval cases for the recurrent family (lstm, gru, rnn).

Expectations: torch.nn.LSTM / GRU / RNN (float64) with weights copied and re-ordered into MIL's layouts, and NumPy
implementations of the equations in coremltools' recurrent.py docstrings (and its NumPy reference tests) where
torch has no equivalent (peephole, clip, other activations, GRU with the reset gate applied before the matmul).

MIL layouts (coremltools): x [s, b, I]; lstm gate order (i, f, o, g) vs torch (i, f, g, o); gru gate order
(r, o/new, z) vs torch (r, z, n); the MIL `bias` is b_ih + b_hh (except iOS18 gru, whose `input_bias` is b_ih).
direction="reverse" runs over x reversed and returns its outputs in processing order (coremltools' tests feed
torch the flipped sequence and compare unflipped); bidirectional lstm concatenates [forward, backward] with the
backward half time-aligned (torch layout)."""
import numpy as np
import torch

from common import const, rng, tensor

F32, F16 = np.float32, np.float16


def uniform(seed, shape, lo=-1.0, hi=1.0, dtype=F32):
    return rng(seed).uniform(lo, hi, size=shape).astype(dtype)


def f32_params(m):
    """Rounds a float64 torch module's parameters to float32 values (what the case stores)."""
    with torch.no_grad():
        for prm in m.parameters():
            prm.copy_(prm.float().double())
    return m


def ifgo_to_ifog(w):
    i, f, g, o = np.split(np.asarray(w), 4)
    return np.concatenate([i, f, o, g])


def rzn_to_rnz(w):
    r, z, n = np.split(np.asarray(w), 3)
    return np.concatenate([r, n, z])


def act(name, v):
    if name in ("tanh", "scaled_tanh"):
        return np.tanh(v)
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-v))
    if name == "relu":
        return np.maximum(v, 0)
    if name in ("hard_sigmoid", "sigmoid_hard"):
        return np.minimum(np.maximum(0.2 * v + 0.5, 0), 1)
    if name == "linear":
        return v
    raise ValueError(name)


# ---- lstm ----------------------------------------------------------------------------------------------------

def torch_lstm(seed, s, b, I, H, bidirectional, bias=True):
    torch.manual_seed(seed)
    m = f32_params(torch.nn.LSTM(I, H, 1, bias=bias, bidirectional=bidirectional).double())
    sd = {k: v.detach().numpy() for k, v in m.state_dict().items()}
    x = uniform(seed + 1, (s, b, I))
    D = 2 if bidirectional else 1
    h0 = uniform(seed + 2, (D, b, H))
    c0 = uniform(seed + 3, (D, b, H))
    return m, sd, x, h0, c0


def lstm_weights(sd, sfx, bias):
    w = {"weight_ih": ifgo_to_ifog(sd["weight_ih_l0" + sfx]), "weight_hh": ifgo_to_ifog(sd["weight_hh_l0" + sfx])}
    if bias:
        w["bias"] = ifgo_to_ifog(sd["bias_ih_l0" + sfx] + sd["bias_hh_l0" + sfx])
    return w


def gen_lstm_torch(emit):
    s, b, I, H = 4, 2, 3, 5
    for direction in ("forward", "reverse"):
        for seq in (True, False):
            m, sd, x, h0, c0 = torch_lstm(100 if direction == "forward" else 200, s, b, I, H, False)
            xt = x[::-1].copy() if direction == "reverse" else x
            with torch.no_grad():
                out, (hn, cn) = m(torch.from_numpy(xt.astype(np.float64)),
                                  (torch.from_numpy(h0.astype(np.float64)), torch.from_numpy(c0.astype(np.float64))))
            out = out.numpy()
            if not seq:
                out = out[-1:]
            w = lstm_weights(sd, "", True)
            emit("lstm", f"{direction}_{'seq' if seq else 'last'}",
                 {"x": tensor(x), "initial_h": tensor(h0[0]), "initial_c": tensor(c0[0]),
                  "weight_ih": const(w["weight_ih"].astype(F32)), "weight_hh": const(w["weight_hh"].astype(F32)),
                  "bias": const(w["bias"].astype(F32)), "direction": const(direction), "output_sequence": const(seq)},
                 [out.astype(F32), hn.numpy()[0].astype(F32), cn.numpy()[0].astype(F32)], oracle="torch")
    # No bias, defaults (forward, last step only).
    m, sd, x, h0, c0 = torch_lstm(300, 3, 1, 2, 4, False, bias=False)
    with torch.no_grad():
        out, (hn, cn) = m(torch.from_numpy(x.astype(np.float64)),
                          (torch.from_numpy(h0.astype(np.float64)), torch.from_numpy(c0.astype(np.float64))))
    w = lstm_weights(sd, "", False)
    emit("lstm", "no_bias_defaults",
         {"x": tensor(x), "initial_h": tensor(h0[0]), "initial_c": tensor(c0[0]),
          "weight_ih": const(w["weight_ih"].astype(F32)), "weight_hh": const(w["weight_hh"].astype(F32))},
         [out.numpy()[-1:].astype(F32), hn.numpy()[0].astype(F32), cn.numpy()[0].astype(F32)], oracle="torch")
    # Bidirectional.
    for seq in (True, False):
        m, sd, x, h0, c0 = torch_lstm(400, s, b, I, H, True)
        with torch.no_grad():
            out, (hn, cn) = m(torch.from_numpy(x.astype(np.float64)),
                              (torch.from_numpy(h0.astype(np.float64)), torch.from_numpy(c0.astype(np.float64))))
        out = out.numpy()
        if not seq:
            out = np.concatenate([out[-1:, :, :H], out[:1, :, H:]], axis=2)
        to_mil = lambda t: np.concatenate([t[0], t[1]], axis=1)  # [2, b, H] -> [b, 2H]
        wf, wb = lstm_weights(sd, "", True), lstm_weights(sd, "_reverse", True)
        emit("lstm", f"bidirectional_{'seq' if seq else 'last'}",
             {"x": tensor(x), "initial_h": tensor(to_mil(h0)), "initial_c": tensor(to_mil(c0)),
              "weight_ih": const(wf["weight_ih"].astype(F32)), "weight_hh": const(wf["weight_hh"].astype(F32)),
              "bias": const(wf["bias"].astype(F32)), "weight_ih_back": const(wb["weight_ih"].astype(F32)),
              "weight_hh_back": const(wb["weight_hh"].astype(F32)), "bias_back": const(wb["bias"].astype(F32)),
              "direction": const("bidirectional"), "output_sequence": const(seq)},
             [out.astype(F32), to_mil(hn.numpy()).astype(F32), to_mil(cn.numpy()).astype(F32)], oracle="torch")


def np_lstm(x, h0, c0, wih, whh, b, p, ra, ca, oa, clip, reverse):
    """coremltools' NumPy LSTM reference: peepholes on c_prev for i/f and on the new c for o; c clipped."""
    s, bsz, _ = x.shape
    H = whh.shape[1]
    Wi, Wf, Wo, Wg = np.split(wih, 4)
    Ri, Rf, Ro, Rg = np.split(whh, 4)
    bi, bf, bo, bg = np.split(b, 4)
    pi, pf, po = np.split(p, 3)
    outs = np.zeros((s, bsz, H))
    hn, cn = np.zeros((bsz, H)), np.zeros((bsz, H))
    for n in range(bsz):
        h, c = h0[n].astype(np.float64), c0[n].astype(np.float64)
        for k in range(s):
            xt = x[s - 1 - k if reverse else k, n].astype(np.float64)
            i = act(ra, Wi @ xt + Ri @ h + bi + pi * c)
            f = act(ra, Wf @ xt + Rf @ h + bf + pf * c)
            g = act(ca, Wg @ xt + Rg @ h + bg)
            c = f * c + i * g
            if clip is not None:
                c = np.clip(c, -clip, clip)
            o = act(ra, Wo @ xt + Ro @ h + bo + po * c)
            h = o * act(oa, c)
            outs[k, n] = h
        hn[n], cn[n] = h, c
    return outs, hn, cn


def gen_lstm_numpy(emit):
    s, b, I, H = 3, 2, 3, 4
    cfgs = [("peephole_clip", "sigmoid", "tanh", "tanh", 0.3, False, True, "ios15", F32),
            ("hard_sigmoid_relu_linear", "hard_sigmoid", "relu", "linear", None, True, False, "ios18", F32),
            ("scaled_tanh_peephole_reverse", "sigmoid", "scaled_tanh", "sigmoid", 2.0, True, True, "ios18", F32),
            ("fp16", "sigmoid", "tanh", "tanh", None, False, True, "ios17", F16)]
    for k, (name, ra, ca, oa, clip, reverse, seq, opset, dt) in enumerate(cfgs):
        x = uniform(500 + k, (s, b, I), dtype=dt)
        h0, c0 = uniform(510 + k, (b, H), dtype=dt), uniform(520 + k, (b, H), dtype=dt)
        wih, whh = uniform(530 + k, (4 * H, I), dtype=dt), uniform(540 + k, (4 * H, H), dtype=dt)
        bias, peep = uniform(550 + k, (4 * H,), dtype=dt), uniform(560 + k, (3 * H,), dtype=dt)
        outs, hn, cn = np_lstm(x, h0, c0, wih.astype(np.float64), whh.astype(np.float64), bias.astype(np.float64),
                               peep.astype(np.float64), ra, ca, oa,
                               None if clip is None else float(dt(clip)), reverse)
        inputs = {"x": tensor(x), "initial_h": tensor(h0), "initial_c": tensor(c0), "weight_ih": const(wih),
                  "weight_hh": const(whh), "bias": const(bias), "peephole": const(peep),
                  "direction": const("reverse" if reverse else "forward"), "output_sequence": const(seq),
                  "recurrent_activation": const(ra), "cell_activation": const(ca), "activation": const(oa)}
        if clip is not None:
            inputs["clip"] = const(dt(clip))
        emit("lstm", name, inputs, [(outs if seq else outs[-1:]).astype(dt), hn.astype(dt), cn.astype(dt)],
             oracle="numpy", opset=opset)


# ---- gru -----------------------------------------------------------------------------------------------------

def np_gru(x, h0, wih, whh, b, ib, ra, oa, reverse, reset_after):
    s, bsz, _ = x.shape
    H = whh.shape[1]
    Wr, Wo, Wz = np.split(wih, 3)
    Rr, Ro, Rz = np.split(whh, 3)
    br, bo, bz = np.split(b, 3)
    ir, io, iz = np.split(ib, 3)
    outs, hn = np.zeros((s, bsz, H)), np.zeros((bsz, H))
    for n in range(bsz):
        h = h0[n].astype(np.float64)
        for k in range(s):
            xt = x[s - 1 - k if reverse else k, n].astype(np.float64)
            z = act(ra, Wz @ xt + iz + Rz @ h + bz)
            r = act(ra, Wr @ xt + ir + Rr @ h + br)
            if reset_after:
                o = act(oa, Wo @ xt + io + r * (Ro @ h + bo))
            else:
                o = act(oa, Wo @ xt + io + Ro @ (r * h) + bo)
            h = (1 - z) * o + z * h
            outs[k, n] = h
        hn[n] = h
    return outs, hn


def gen_gru(emit):
    s, b, I, H = 4, 2, 3, 3
    cfgs = [("forward_seq", "forward", True, True, "sigmoid", "tanh", "ios15", F32),
            ("reverse_last", "reverse", False, True, "sigmoid", "tanh", "ios15", F32),
            ("no_bias_swapped_activations", "forward", True, False, "tanh", "sigmoid", "ios17", F32),
            ("fp16_reverse_seq", "reverse", True, True, "sigmoid", "tanh", "ios17", F16)]
    for k, (name, direction, seq, has_bias, ra, oa, opset, dt) in enumerate(cfgs):
        x = uniform(600 + k, (s, b, I), dtype=dt)
        h0 = uniform(610 + k, (b, H), dtype=dt)
        wih, whh = uniform(620 + k, (3 * H, I), dtype=dt), uniform(630 + k, (3 * H, H), dtype=dt)
        bias = uniform(640 + k, (3 * H,), dtype=dt) if has_bias else np.zeros(3 * H, dt)
        outs, hn = np_gru(x, h0, wih.astype(np.float64), whh.astype(np.float64), bias.astype(np.float64),
                          np.zeros(3 * H), ra, oa, direction == "reverse", False)
        inputs = {"x": tensor(x), "initial_h": tensor(h0), "weight_ih": const(wih), "weight_hh": const(whh),
                  "direction": const(direction), "output_sequence": const(seq), "recurrent_activation": const(ra),
                  "activation": const(oa)}
        if has_bias:
            inputs["bias"] = const(bias)
        emit("gru", name, inputs, [(outs if seq else outs[-1:]).astype(dt), hn.astype(dt)], oracle="numpy",
             opset=opset, note="coremltools GRU: o = act(W_o x + R_o (r * h) + b_o) (reset before the matmul)")
    # iOS18 reset_after=True with input_bias == torch.nn.GRU (coremltools' test_pytorch_parity layout).
    for k, seq in enumerate((True, False)):
        torch.manual_seed(700 + k)
        m = f32_params(torch.nn.GRU(I, H, 1).double())
        sd = {kk: v.detach().numpy() for kk, v in m.state_dict().items()}
        x = uniform(710 + k, (s, b, I))
        h0 = uniform(720 + k, (1, b, H))
        with torch.no_grad():
            out, hn = m(torch.from_numpy(x.astype(np.float64)), torch.from_numpy(h0.astype(np.float64)))
        out = out.numpy() if seq else out.numpy()[-1:]
        emit("gru", f"ios18_reset_after_{'seq' if seq else 'last'}",
             {"x": tensor(x), "initial_h": tensor(h0[0]),
              "weight_ih": const(rzn_to_rnz(sd["weight_ih_l0"]).astype(F32)),
              "weight_hh": const(rzn_to_rnz(sd["weight_hh_l0"]).astype(F32)),
              "input_bias": const(rzn_to_rnz(sd["bias_ih_l0"]).astype(F32)),
              "bias": const(rzn_to_rnz(sd["bias_hh_l0"]).astype(F32)), "reset_after": const(True),
              "output_sequence": const(seq)},
             [out.astype(F32), hn.numpy()[0].astype(F32)], oracle="torch")
    # iOS18 reset_after=False with an input_bias.
    x = uniform(730, (s, b, I))
    h0 = uniform(731, (b, H))
    wih, whh = uniform(732, (3 * H, I)), uniform(733, (3 * H, H))
    bias, ib = uniform(734, (3 * H,)), uniform(735, (3 * H,))
    outs, hn = np_gru(x, h0, wih.astype(np.float64), whh.astype(np.float64), bias.astype(np.float64),
                      ib.astype(np.float64), "sigmoid", "tanh", False, False)
    emit("gru", "ios18_input_bias_reset_before",
         {"x": tensor(x), "initial_h": tensor(h0), "weight_ih": const(wih), "weight_hh": const(whh),
          "bias": const(bias), "input_bias": const(ib), "output_sequence": const(True)},
         [outs.astype(F32), hn.astype(F32)], oracle="numpy")


# ---- rnn -----------------------------------------------------------------------------------------------------

def gen_rnn(emit):
    s, b, I, H = 5, 2, 3, 4
    for k, (direction, seq, nl) in enumerate([("forward", True, "tanh"), ("reverse", False, "tanh"),
                                              ("forward", False, "relu"), ("reverse", True, "relu")]):
        torch.manual_seed(800 + k)
        m = f32_params(torch.nn.RNN(I, H, 1, nonlinearity=nl).double())
        sd = {kk: v.detach().numpy() for kk, v in m.state_dict().items()}
        x = uniform(810 + k, (s, b, I))
        h0 = uniform(820 + k, (1, b, H))
        xt = x[::-1].copy() if direction == "reverse" else x
        with torch.no_grad():
            out, hn = m(torch.from_numpy(xt.astype(np.float64)), torch.from_numpy(h0.astype(np.float64)))
        out = out.numpy() if seq else out.numpy()[-1:]
        emit("rnn", f"{direction}_{nl}_{'seq' if seq else 'last'}",
             {"x": tensor(x), "initial_h": tensor(h0[0]), "weight_ih": const(sd["weight_ih_l0"].astype(F32)),
              "weight_hh": const(sd["weight_hh_l0"].astype(F32)),
              "bias": const((sd["bias_ih_l0"] + sd["bias_hh_l0"]).astype(F32)), "direction": const(direction),
              "output_sequence": const(seq), "activation": const(nl)},
             [out.astype(F32), hn.numpy()[0].astype(F32)], oracle="torch")
    # fp16 (iOS17), sigmoid activation, no bias: NumPy.
    x = uniform(830, (3, 1, 2), dtype=F16)
    h0 = uniform(831, (1, 3), dtype=F16)
    wih, whh = uniform(832, (3, 2), dtype=F16), uniform(833, (3, 3), dtype=F16)
    h = h0[0].astype(np.float64)
    outs = []
    for t in range(3):
        h = act("sigmoid", wih.astype(np.float64) @ x[t, 0].astype(np.float64) + whh.astype(np.float64) @ h)
        outs.append(h.copy())
    emit("rnn", "fp16_sigmoid_no_bias",
         {"x": tensor(x), "initial_h": tensor(h0), "weight_ih": const(wih), "weight_hh": const(whh),
          "output_sequence": const(True), "activation": const("sigmoid")},
         [np.array(outs)[:, None, :].astype(F16), h[None].astype(F16)], oracle="numpy", opset="ios17")


def generate(emit):
    gen_lstm_torch(emit)
    gen_lstm_numpy(emit)
    gen_gru(emit)
    gen_rnn(emit)
