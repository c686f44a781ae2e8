#!/usr/bin/env python3
"""Independent PyTorch reference for the structffn decoder (docs/METHOD.md §1 and §4).

Writes reference.json next to this script: for a handful of tiny models, random float32 weights,
tokens/targets, and the float64 logits, mean cross-entropy loss and two weight gradients computed
with PyTorch's own ops (F.layer_norm, F.gelu(approximate="tanh"), F.scaled_dot_product_attention,
F.cross_entropy, torch.einsum, autograd). Everything is computed in float64 from float32-representable
weights, so the Go side can load the weights exactly.

Regenerate (see README.md):  python gen_reference.py
"""

import json
import math
import os
import platform
import sys

import numpy as np
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
DT = torch.float64

# Shared sizes of all cases.
BASE = dict(layers=2, d_model=32, heads=4, kv_heads=4, head_dim=8, ffn=128, vocab=64, context=12,
            structure="dense", rank=0, nblocks=0, rope_base=10000, layer_norm_eps=1e-5)
BATCH = 2

CASES = [
    ("dense_mha", dict(kv_heads=4, structure="dense")),
    ("lowrank_gqa", dict(kv_heads=2, structure="lowrank", rank=8)),
    ("blockdense", dict(kv_heads=4, structure="blockdense", rank=16, nblocks=2)),
    ("blockshuffle", dict(kv_heads=1, structure="blockshuffle", nblocks=4)),
    ("attn_narrow", dict(heads=2, head_dim=8, kv_heads=1, structure="lowrank", rank=8)),
]

W_STD, B_STD = 0.2, 0.1


# ----------------------------------------------------------------------------------------------
# Structured linear maps (docs/METHOD.md §1). x: [..., in]. Weights are float64 tensors.

def struct_param_shapes(kind, n_in, n_out, rank, nblocks):
    """Ordered {name: shape} of the structured weights (bias excluded)."""
    if kind == "dense":
        return {"weights": (n_out, n_in)}
    if kind == "lowrank":
        return {"v": (rank, n_in), "u": (n_out, rank)}
    if kind == "blockdense":
        b = nblocks
        assert n_in % b == 0 and rank % b == 0
        return {"blocks": (b, rank // b, n_in // b), "u": (n_out, rank)}
    if kind == "blockshuffle":
        b = nblocks
        assert n_in % b == 0 and n_out % b == 0
        if n_in < n_out:
            return {"b1": (b, n_in // b, n_in // b), "b2": (b, n_out // b, n_in // b)}
        return {"b1": (b, n_out // b, n_in // b), "b2": (b, n_out // b, n_out // b)}
    raise ValueError(kind)


def blockshuffle_apply(x, b1, b2):
    """The four steps of docs/METHOD.md §1, literally, with einsum. x: [..., in]."""
    k, q, p = b1.shape                    # k = B blocks, q outputs per block, p = in/B
    l = k                                 # l = B
    lead = x.shape[:-1]
    xb = x.reshape(*lead, k, p)                                   # (1) x as (k, p)
    h1 = torch.einsum("kqp,...kp->...kq", b1, xb)                 # h1[i,j] = sum_p B1[i,j,p] x[i,p]
    h1flat = h1.reshape(*lead, k * q)                             # index i*q + j
    r = (k * q) // l
    z = h1flat.reshape(*lead, r, l).transpose(-1, -2)             # (2) z[a,c] = h1flat[c*l + a]
    h2 = torch.einsum("amc,...ac->...am", b2, z)                  # (3) h2[a,m] = sum_c B2[a,m,c] z[a,c]
    m = b2.shape[1]
    y = h2.transpose(-1, -2).reshape(*lead, m * l)                # (4) y[m*l + a] = h2[a,m]
    return y


def blockshuffle_loops(x, b1, b2):
    """Scalar-loop version of the same four steps (numpy, one vector), as an independent check."""
    k, q, p = b1.shape
    l = k
    r = k * q // l
    nb, mm, cc = b2.shape
    assert nb == l and cc == r
    h1flat = np.zeros(k * q)
    for i in range(k):
        for j in range(q):
            h1flat[i * q + j] = sum(b1[i, j, pp] * x[i * p + pp] for pp in range(p))
    z = np.zeros((l, r))
    for a in range(l):
        for c in range(r):
            z[a, c] = h1flat[c * l + a]
    y = np.zeros(mm * l)
    for a in range(l):
        for m in range(mm):
            y[m * l + a] = sum(b2[a, m, c] * z[a, c] for c in range(r))
    return y


def struct_apply(kind, params, x, nblocks):
    if kind == "dense":
        y = x @ params["weights"].T
    elif kind == "lowrank":
        y = (x @ params["v"].T) @ params["u"].T
    elif kind == "blockdense":
        bd = params["blocks"]
        b, rb, ib = bd.shape
        xb = x.reshape(*x.shape[:-1], b, ib)
        h = torch.einsum("bri,...bi->...br", bd, xb).reshape(*x.shape[:-1], b * rb)   # block-major
        y = h @ params["u"].T
    elif kind == "blockshuffle":
        y = blockshuffle_apply(x, params["b1"], params["b2"])
    else:
        raise ValueError(kind)
    return y + params["bias"]


# ----------------------------------------------------------------------------------------------
# Decoder (docs/METHOD.md §4).

def rope_tables(seq, head_dim, base):
    half = head_dim // 2
    inv_freq = torch.tensor([base ** (-2.0 * i / head_dim) for i in range(half)], dtype=DT)
    pos = torch.arange(seq, dtype=DT)
    ang = pos[:, None] * inv_freq[None, :]                        # [seq, half]
    ang = torch.cat([ang, ang], dim=-1)                           # [seq, head_dim]
    return torch.cos(ang), torch.sin(ang)


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], dim=-1)


def apply_rope(x, cos, sin):
    # x: [batch, heads, seq, head_dim]
    return x * cos + rotate_half(x) * sin


def attention(cfg, w, pre, x):
    bsz, seq, _ = x.shape
    H, KV, hd = cfg["heads"], cfg["kv_heads"], cfg["head_dim"]
    q = x @ w[pre + "attn/q/weights"].T + w[pre + "attn/q/bias"]
    k = x @ w[pre + "attn/k/weights"].T + w[pre + "attn/k/bias"]
    v = x @ w[pre + "attn/v/weights"].T + w[pre + "attn/v/bias"]
    q = q.reshape(bsz, seq, H, hd).transpose(1, 2)                # [b, H, s, hd]
    k = k.reshape(bsz, seq, KV, hd).transpose(1, 2)
    v = v.reshape(bsz, seq, KV, hd).transpose(1, 2)
    cos, sin = rope_tables(seq, hd, float(cfg["rope_base"]))
    q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
    group = H // KV
    k = k.repeat_interleave(group, dim=1)                         # query head h -> kv head h // group
    v = v.repeat_interleave(group, dim=1)
    out = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=1.0 / math.sqrt(hd))
    # Cross-check against an explicit masked softmax.
    scores = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
    mask = torch.ones(seq, seq, dtype=torch.bool).tril()
    scores = scores.masked_fill(~mask, float("-inf"))
    out2 = torch.softmax(scores, dim=-1) @ v
    assert torch.allclose(out, out2, rtol=1e-12, atol=1e-12), (out - out2).abs().max()
    out = out.transpose(1, 2).reshape(bsz, seq, H * hd)           # head-major concat
    return out @ w[pre + "attn/o/weights"].T + w[pre + "attn/o/bias"]


def ffn_kind(cfg, layer):
    return "dense" if layer == 0 else cfg["structure"]


def ffn(cfg, w, pre, layer, x):
    kind = ffn_kind(cfg, layer)
    out = []
    for fc in ("fc1", "fc2"):
        p = pre + "ffn/" + fc + "/"
        params = {n[len(p):]: t for n, t in w.items() if n.startswith(p)}
        x = struct_apply(kind, params, x, cfg["nblocks"])
        if fc == "fc1":
            x = F.gelu(x, approximate="tanh")
    return x


def forward(cfg, w, tokens):
    eps = cfg["layer_norm_eps"]
    d = cfg["d_model"]
    x = F.embedding(tokens, w["embed/embeddings"])
    for i in range(cfg["layers"]):
        pre = "block_%02d/" % i
        h = F.layer_norm(x, (d,), w[pre + "ln1/scale"], w[pre + "ln1/offset"], eps)
        x = x + attention(cfg, w, pre, h)
        h = F.layer_norm(x, (d,), w[pre + "ln2/scale"], w[pre + "ln2/offset"], eps)
        x = x + ffn(cfg, w, pre, i, h)
    h = F.layer_norm(x, (d,), w["ln_f/scale"], w["ln_f/offset"], eps)
    return h @ w["embed/embeddings"].T


# ----------------------------------------------------------------------------------------------
# Weights.

def weight_shapes(cfg):
    d, H, KV, hd, f, V = (cfg[k] for k in ("d_model", "heads", "kv_heads", "head_dim", "ffn", "vocab"))
    a = H * hd
    shapes = {"embed/embeddings": (V, d)}
    for i in range(cfg["layers"]):
        pre = "block_%02d/" % i
        shapes[pre + "ln1/scale"] = (d,)
        shapes[pre + "ln1/offset"] = (d,)
        for name, (o, n) in (("q", (a, d)), ("k", (KV * hd, d)), ("v", (KV * hd, d)), ("o", (d, a))):
            shapes[pre + "attn/%s/weights" % name] = (o, n)
            shapes[pre + "attn/%s/bias" % name] = (o,)
        shapes[pre + "ln2/scale"] = (d,)
        shapes[pre + "ln2/offset"] = (d,)
        kind = ffn_kind(cfg, i)
        for fc, (n, o) in (("fc1", (d, f)), ("fc2", (f, d))):
            for name, shp in struct_param_shapes(kind, n, o, cfg["rank"], cfg["nblocks"]).items():
                shapes[pre + "ffn/%s/%s" % (fc, name)] = shp
            shapes[pre + "ffn/%s/bias" % fc] = (o,)
    shapes["ln_f/scale"] = (d,)
    shapes["ln_f/offset"] = (d,)
    return shapes


def random_weights(shapes, rng):
    w = {}
    for name, shp in shapes.items():
        leaf = name.rsplit("/", 1)[1]
        z = rng.standard_normal(shp)
        if leaf == "scale":
            v = 1.0 + 0.1 * z
        elif leaf in ("offset",):
            v = 0.1 * z
        elif leaf == "bias":
            v = B_STD * z
        else:
            v = W_STD * z
        w[name] = v.astype(np.float32)
    return w


def grad_keys(cfg):
    kind = cfg["structure"]
    first = {"dense": "weights", "lowrank": "u", "blockdense": "u", "blockshuffle": "b2"}[kind]
    return ["embed/embeddings", "block_01/ffn/fc1/" + first]


# ----------------------------------------------------------------------------------------------
# Self-checks.

def check_blockshuffle(w32, cfg, rng):
    """Dense matrix from identity basis vectors == step-by-step forward == scalar loops."""
    for fc in ("fc1", "fc2"):
        p = "block_01/ffn/%s/" % fc
        b1 = torch.tensor(w32[p + "b1"], dtype=DT)
        b2 = torch.tensor(w32[p + "b2"], dtype=DT)
        n_in = b1.shape[0] * b1.shape[2]
        eye = torch.eye(n_in, dtype=DT)
        Wm = blockshuffle_apply(eye, b1, b2).T                    # [out, in], column j = f(e_j)
        x = torch.tensor(rng.standard_normal((5, n_in)), dtype=DT)
        y_steps = blockshuffle_apply(x, b1, b2)
        y_mat = x @ Wm.T
        assert torch.allclose(y_steps, y_mat, rtol=1e-12, atol=1e-12), fc
        # Matrix form W = P_out · bd(B2) · P_mid · bd(B1), built independently.
        B, q, pp = b1.shape
        _, m, c = b2.shape
        bd1 = torch.block_diag(*b1)                               # [B*q, in]
        bd2 = torch.block_diag(*b2)                               # [B*m, B*c]
        r = B * q // B
        P_mid = torch.zeros(B * r, B * q, dtype=DT)               # z flat (a*r + c) <- h1flat[c*l + a]
        for a in range(B):
            for cc in range(r):
                P_mid[a * r + cc, cc * B + a] = 1
        P_out = torch.zeros(m * B, B * m, dtype=DT)               # y[mm*l + a] <- h2flat[a*m + mm]
        for a in range(B):
            for mm in range(m):
                P_out[mm * B + a, a * m + mm] = 1
        W2 = P_out @ bd2 @ P_mid @ bd1
        assert torch.allclose(Wm, W2, rtol=1e-12, atol=1e-12), fc
        yl = blockshuffle_loops(x[0].numpy(), b1.numpy(), b2.numpy())
        assert np.allclose(yl, y_steps[0].numpy(), rtol=1e-12, atol=1e-12), fc


# ----------------------------------------------------------------------------------------------

def tensor_json(arr, fmt):
    arr = np.asarray(arr)
    if fmt == "f32":
        data = [float("%.9g" % v) for v in arr.astype(np.float32).ravel().tolist()]
        # Round-trip check: the 9-digit decimal reads back as the same float32.
        assert np.array_equal(np.array(data, dtype=np.float32), arr.astype(np.float32).ravel())
    else:
        data = [float(v) for v in arr.astype(np.float64).ravel().tolist()]
    return {"shape": list(arr.shape), "data": data}


def main():
    out_dir = os.path.dirname(os.path.abspath(__file__))
    generator = "torch %s / python %s / numpy %s (%s, CPU, float64)" % (
        torch.__version__, platform.python_version(), np.__version__, platform.machine())
    cases = []
    summary = []
    for ci, (name, over) in enumerate(CASES):
        cfg = dict(BASE)
        cfg.update(over)
        rng = np.random.RandomState(1234 + ci)
        shapes = weight_shapes(cfg)
        w32 = random_weights(shapes, rng)
        tokens = rng.randint(0, cfg["vocab"], size=(BATCH, cfg["context"]))
        targets = rng.randint(0, cfg["vocab"], size=(BATCH, cfg["context"]))

        if cfg["structure"] == "blockshuffle":
            check_blockshuffle(w32, cfg, rng)

        w = {k: torch.tensor(v.astype(np.float64), requires_grad=True) for k, v in w32.items()}
        tok = torch.tensor(tokens, dtype=torch.long)
        tgt = torch.tensor(targets, dtype=torch.long)
        logits = forward(cfg, w, tok)
        loss = F.cross_entropy(logits.reshape(-1, cfg["vocab"]), tgt.reshape(-1))
        assert math.isfinite(loss.item())
        gk = grad_keys(cfg)
        grads = torch.autograd.grad(loss, [w[k] for k in gk])
        for g in grads:
            assert torch.isfinite(g).all()
            assert g.abs().max().item() > 0

        cases.append({
            "name": name,
            "config": cfg,
            "tokens": tokens.tolist(),
            "targets": targets.tolist(),
            "weights": {k: tensor_json(v, "f32") for k, v in w32.items()},
            "logits": tensor_json(logits.detach().numpy(), "f64"),
            "loss": float(loss.item()),
            "grads": {k: tensor_json(g.numpy(), "f64") for k, g in zip(gk, grads)},
        })
        nparams = sum(int(np.prod(s)) for s in shapes.values())
        line = "%-13s structure=%-12s heads=%d kv=%d a=%d params=%d loss=%.12f logits_std=%.4f |g_emb|=%.4e" % (
            name, cfg["structure"], cfg["heads"], cfg["kv_heads"], cfg["heads"] * cfg["head_dim"], nparams,
            loss.item(), logits.std().item(), grads[0].norm().item())
        print(line)
        summary.append((name, loss.item()))

    path = os.path.join(out_dir, "reference.json")
    with open(path, "w") as fh:
        json.dump({"generator": generator, "cases": cases}, fh, separators=(",", ":"))
        fh.write("\n")
    print("wrote %s (%d bytes) with %s" % (path, os.path.getsize(path), generator))


if __name__ == "__main__":
    main()
