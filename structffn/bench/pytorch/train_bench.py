#!/usr/bin/env python3
"""Independent PyTorch reference of structffn's training step, for throughput comparison.

Builds the same decoder as structffn/model (docs/METHOD.md §1-§4: pre-LN blocks with biases, RoPE rotate-half,
causal (grouped-query) attention, GELU-tanh FFN whose matrices are structured in every block but the
first, tied embeddings, final LayerNorm) as a float32 nn.Module, trains it on random tokens with AdamW
and global-norm clipping, and prints ONE JSON line with the same keys as `structffn bench train -json`.

    python3 train_bench.py --preset tiny --structure lowrank            # 32% LowRank, eager
    python3 train_bench.py --preset mini --structure dense --compile    # torch.compile
    python3 train_bench.py --check-params                               # accounting table only

The parameter and FLOP accounting (params, train_flops_per_token) mirrors structffn/model/accounting.go
and the rank / nblocks rule mirrors structffn/linear/sizes.go SizeFor, so the numbers can be compared
with the Go side's field by field. Progress goes to stderr; stdout holds only the JSON line(s).
"""

import argparse
import json
import math
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

INIT_STD = 0.02
FRACTION32 = 0.3125

# model.Presets (structffn/model/config.go), CPU sizes. lr is the preset's peak learning rate.
PRESETS = {
    "tiny": dict(layers=2, d_model=128, heads=4, kv_heads=4, head_dim=32, ffn=512, vocab=512, ctx=128,
                 batch=16, lr=2e-3),
    "mini": dict(layers=4, d_model=256, heads=4, kv_heads=4, head_dim=64, ffn=1024, vocab=1024, ctx=256,
                 batch=16, lr=1e-3),
    "small": dict(layers=6, d_model=384, heads=6, kv_heads=6, head_dim=64, ffn=1536, vocab=2048, ctx=256,
                  batch=32, lr=8e-4),
    # The paper's s size (GPU): vocabulary 32000, context 1024; its batch of 512 sequences is a training
    # run's, far beyond a benchmark's, so pass --batch.
    "s": dict(layers=12, d_model=768, heads=12, kv_heads=12, head_dim=64, ffn=3072, vocab=32000, ctx=1024,
              batch=512, lr=6e-4),
}
# Presets that --check-params tabulates (the CPU sizes; s takes seconds of SVDs to build on a CPU).
CPU_PRESETS = ("tiny", "mini", "small")
KINDS = ("dense", "lowrank", "blockdense", "blockshuffle")

# Ablations (structffn/model/ablation.go), for time breakdowns: one kind of work replaced by a
# stand-in of the same shape; "no_update" computes the gradients and skips clipping and AdamW.
ABLATIONS = ("none", "softmax", "attention", "rope", "projections", "gelu", "ffn", "norm", "head", "no_update")
ABLATE = "none"


# ------------------------------------------------------------------------------------------------
# Sizes and accounting (linear/sizes.go, linear/spec.go, model/accounting.go).

def size_for(kind, d, f, fraction):
    """linear.SizeFor: (rank, nblocks) giving the structured FFN `fraction` of the dense FFN's params."""
    if d <= 0 or f <= 0:
        raise ValueError("FFN widths must be positive (got d=%d, f=%d)" % (d, f))
    if not (0 < fraction <= 1):
        raise ValueError("parameter fraction must be in (0, 1] (got %g)" % fraction)
    eps = 1e-9
    rank = nblocks = 0
    if kind == "dense":
        if fraction != 1:
            raise ValueError("a dense FFN has fraction 1 (got %g)" % fraction)
    elif kind == "lowrank":
        rank = go_round(fraction * d * f / (d + f))
    elif kind == "blockshuffle":
        exact = (d + f) / (f * fraction)
        nblocks = go_round(exact)
        if abs(exact - nblocks) > eps:
            raise ValueError("blockshuffle: fraction %g needs B = (d+f)/(f*fraction) = %.3f blocks, "
                             "not a whole number" % (fraction, exact))
    elif kind == "blockdense":
        def exact_rank(b):
            return 2 * fraction * d * f / ((d + f) * (1 + 1 / b))
        nblocks = 2
        r = exact_rank(nblocks)
        rank = go_round(r)
        if abs(r - rank) > eps or rank % nblocks != 0:
            nblocks = 4
            granule = d // 8
            if d % 32 != 0 or granule < nblocks:
                granule = nblocks
            rank = int(math.floor(exact_rank(nblocks) / granule + eps)) * granule
    else:
        raise ValueError("unknown structure %r" % kind)
    for n_in, n_out in ((d, f), (f, d)):
        validate_spec(kind, n_in, n_out, rank, nblocks)
    return rank, nblocks


def go_round(x):
    """Go's math.Round: half away from zero (Python's round() is half to even)."""
    return int(math.floor(abs(x) + 0.5)) * (1 if x >= 0 else -1)


def validate_spec(kind, n_in, n_out, rank, nblocks):
    name = "%s(%d->%d, R=%d, B=%d)" % (kind, n_in, n_out, rank, nblocks)
    if kind in ("lowrank", "blockdense") and not (0 < rank <= min(n_in, n_out)):
        raise ValueError("%s: rank must satisfy 0 < R <= min(in, out) = %d" % (name, min(n_in, n_out)))
    if kind == "blockdense" and (nblocks <= 0 or n_in % nblocks or rank % nblocks):
        raise ValueError("%s: nblocks must divide both in and rank" % name)
    if kind == "blockshuffle" and (nblocks <= 0 or n_in % nblocks or n_out % nblocks):
        raise ValueError("%s: nblocks must divide both in and out" % name)


def weight_shapes(kind, n_in, n_out, rank, nblocks):
    """linear.Spec.Weights: ordered {name: shape} of a structured map's weights (bias excluded)."""
    if kind == "dense":
        return {"weight": (n_out, n_in)}
    if kind == "lowrank":
        return {"v": (rank, n_in), "u": (n_out, rank)}
    if kind == "blockdense":
        b = nblocks
        return {"blocks": (b, rank // b, n_in // b), "u": (n_out, rank)}
    if kind == "blockshuffle":
        b = nblocks
        q = n_in // b if n_in < n_out else n_out // b     # blockShuffleInner
        return {"b1": (b, q, n_in // b), "b2": (b, n_out // b, q)}
    raise ValueError(kind)


def spec_params(kind, n_in, n_out, rank, nblocks):
    return sum(math.prod(s) for s in weight_shapes(kind, n_in, n_out, rank, nblocks).values())


def ffn_kind(cfg, layer):
    """model.Config.FFNSpecs: the first block's FFN stays dense unless all_structured."""
    if (layer == 0 and not cfg["all_structured"]) or cfg["structure"] == "dense":
        return "dense"
    return cfg["structure"]


def accounting(cfg):
    """model.Config.Params (total, ffn) and TrainFLOPsPerToken."""
    d, L, V, s = cfg["d_model"], cfg["layers"], cfg["vocab"], cfg["ctx"]
    a = cfg["heads"] * cfg["head_dim"]
    kv = cfg["kv_heads"] * cfg["head_dim"]
    f = cfg["ffn"]
    attention = L * (2 * a * d + 2 * kv * d)
    other = L * ((a + 2 * kv + d) + 2 * 2 * d) + 2 * d
    ffn = 0
    for layer in range(L):
        kind = ffn_kind(cfg, layer)
        rank, nb = (cfg["rank"], cfg["nblocks"]) if kind != "dense" else (0, 0)
        ffn += spec_params(kind, d, f, rank, nb) + spec_params(kind, f, d, rank, nb)
        other += f + d                                     # fc1 and fc2 biases
    embedding = V * d
    total = attention + ffn + embedding + other
    fwd = 2 * L * (2 * a * d + 2 * kv * d + 2 * s * a) + 2 * ffn + 2 * V * d
    return dict(params=total, ffn_params=ffn, attn_params=attention, embedding_params=embedding,
                other_params=other, train_flops_per_token=3 * fwd)


# ------------------------------------------------------------------------------------------------
# Model (float32 nn.Module).

def polar_(w):
    """Replace every trailing 2-D block of w by its orthogonal polar factor U·Vh (in place)."""
    u, _, vh = torch.linalg.svd(w.double(), full_matrices=False)
    w.copy_((u @ vh).to(w.dtype))


class StructLinear(nn.Module):
    """y = W x + b for a structured W (docs/METHOD.md §1), weights in out×in layouts (linear.Spec.Weights)."""

    def __init__(self, kind, n_in, n_out, rank=0, nblocks=0):
        super().__init__()
        validate_spec(kind, n_in, n_out, rank, nblocks)
        self.kind, self.n_in, self.n_out, self.rank, self.nblocks = kind, n_in, n_out, rank, nblocks
        for name, shape in weight_shapes(kind, n_in, n_out, rank, nblocks).items():
            self.register_parameter(name, nn.Parameter(torch.empty(shape)))
        self.bias = nn.Parameter(torch.zeros(n_out))
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self):
        # The paper's init (linear/init.go); it does not affect throughput, only the printed loss.
        if self.kind == "dense":
            self.weight.normal_(0, INIT_STD)
        elif self.kind == "lowrank":
            w0 = torch.randn(self.n_out, self.n_in, dtype=torch.float64) * INIT_STD
            p, sv, qh = torch.linalg.svd(w0, full_matrices=False)
            root = sv[: self.rank].sqrt()
            self.v.copy_((root[:, None] * qh[: self.rank]).float())
            self.u.copy_((p[:, : self.rank] * root[None, :]).float())
        else:
            for name in weight_shapes(self.kind, self.n_in, self.n_out, self.rank, self.nblocks):
                w = getattr(self, name)
                w.normal_(0, INIT_STD)
                polar_(w)
        self.bias.zero_()

    def forward(self, x):
        lead = x.shape[:-1]
        if self.kind == "dense":
            return F.linear(x, self.weight, self.bias)
        if self.kind == "lowrank":
            return F.linear(F.linear(x, self.v), self.u, self.bias)
        t = x.reshape(-1, self.n_in)                                   # [T, N]
        if self.kind == "blockdense":
            b = self.nblocks
            h = torch.einsum("tbp,brp->tbr", t.reshape(-1, b, self.n_in // b), self.blocks)   # [T, B, R/B]
            y = F.linear(h.reshape(-1, self.rank), self.u, self.bias)                          # block-major
        else:  # blockshuffle (linear/layer.go Apply)
            k = self.nblocks
            q = self.b1.shape[1]
            h1 = torch.einsum("tkp,kqp->tkq", t.reshape(-1, k, self.n_in // k), self.b1)      # [T, k, q]
            h1 = h1.reshape(-1, q, k)                                  # shuffle: [T, r, l], l = k, r = q
            h2 = torch.einsum("trl,lsr->tsl", h1, self.b2)             # [T, s, l]: y[m*l + a] interleaved
            y = h2.reshape(-1, self.n_out) + self.bias
        return y.reshape(*lead, self.n_out)


def dense_linear(n_in, n_out):
    lin = nn.Linear(n_in, n_out, bias=True)
    with torch.no_grad():
        lin.weight.normal_(0, INIT_STD)
        lin.bias.zero_()
    return lin


class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d, hd = cfg["d_model"], cfg["head_dim"]
        self.heads, self.kv_heads, self.hd = cfg["heads"], cfg["kv_heads"], hd
        self.q = dense_linear(d, self.heads * hd)
        self.k = dense_linear(d, self.kv_heads * hd)
        self.v = dense_linear(d, self.kv_heads * hd)
        self.o = dense_linear(self.heads * hd, d)

    def forward(self, x, cos, sin):
        b, s, _ = x.shape
        proj = ABLATE != "projections"
        q = (self.q(x) if proj else x).view(b, s, self.heads, self.hd).transpose(1, 2)       # [b, H, s, hd]
        k = (self.k(x) if proj else x).view(b, s, self.kv_heads, self.hd).transpose(1, 2)    # [b, KV, s, hd]
        v = (self.v(x) if proj else x).view(b, s, self.kv_heads, self.hd).transpose(1, 2)
        if ABLATE != "rope":
            q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if self.kv_heads != self.heads:
            # Query head h = n·group + j uses key/value head n (model/attention.go).
            group = self.heads // self.kv_heads
            k = k.repeat_interleave(group, dim=1)
            v = v.repeat_interleave(group, dim=1)
        scale = 1.0 / math.sqrt(self.hd)
        if ABLATE == "attention":
            out = v + 0 * k + 0 * q                                        # the core dropped, q and k kept
        elif ABLATE == "softmax":
            out = (q @ k.transpose(-1, -2) * scale) @ v                    # no mask, no softmax
        else:
            out = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=scale)
        out = out.transpose(1, 2).reshape(b, s, self.heads * self.hd)
        return self.o(out) if proj else out


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def apply_rope(x, cos, sin):
    return x * cos + rotate_half(x) * sin


class FFN(nn.Module):
    def __init__(self, kind, d, f, rank, nblocks):
        super().__init__()
        self.fc1 = StructLinear(kind, d, f, rank, nblocks)
        self.fc2 = StructLinear(kind, f, d, rank, nblocks)

    def forward(self, x):
        if ABLATE == "ffn":
            return x
        if ABLATE == "gelu":
            return self.fc2(self.fc1(x))
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))


class Block(nn.Module):
    def __init__(self, cfg, layer):
        super().__init__()
        d, eps = cfg["d_model"], cfg["layer_norm_eps"]
        kind = ffn_kind(cfg, layer)
        rank, nb = (cfg["rank"], cfg["nblocks"]) if kind != "dense" else (0, 0)
        self.ln1 = nn.LayerNorm(d, eps=eps)
        self.attn = Attention(cfg)
        self.ln2 = nn.LayerNorm(d, eps=eps)
        self.ffn = FFN(kind, d, cfg["ffn"], rank, nb)

    def forward(self, x, cos, sin):
        x = x + self.attn(norm(self.ln1, x), cos, sin)
        return x + self.ffn(norm(self.ln2, x))


def norm(ln, x):
    return x if ABLATE == "norm" else ln(x)


class GPT(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d = cfg["d_model"]
        self.embed = nn.Embedding(cfg["vocab"], d)
        with torch.no_grad():
            self.embed.weight.normal_(0, INIT_STD)
        self.blocks = nn.ModuleList(Block(cfg, i) for i in range(cfg["layers"]))
        self.ln_f = nn.LayerNorm(d, eps=cfg["layer_norm_eps"])
        self.head_dim, self.ctx, self.rope_base = cfg["head_dim"], cfg["ctx"], cfg["rope_base"]
        self.set_rope(torch.float32)

    def set_rope(self, dtype):
        """RoPE tables [ctx, head_dim] in dtype: the half-width angles repeated twice (GPT-NeoX layout)."""
        hd = self.head_dim
        inv_freq = 1.0 / (self.rope_base ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
        ang = torch.arange(self.ctx, dtype=torch.float64)[:, None] * inv_freq[None, :]
        ang = torch.cat((ang, ang), dim=-1)
        self.register_buffer("cos", ang.cos().to(dtype), persistent=False)
        self.register_buffer("sin", ang.sin().to(dtype), persistent=False)

    def forward(self, tokens, targets):
        s = tokens.shape[1]
        cos, sin = self.cos[:s], self.sin[:s]
        x = self.embed(tokens)
        for blk in self.blocks:
            x = blk(x, cos, sin)
        h = norm(self.ln_f, x)
        if ABLATE == "head":
            c = (torch.arange(h.shape[-1], dtype=h.dtype, device=h.device) % 7) - 3   # the Go side's fixed vector
            return (h @ c).mean()
        logits = F.linear(h, self.embed.weight)                        # tied LM head
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


# ------------------------------------------------------------------------------------------------
# Configuration (train/config.go ModelConfig).

def resolve(preset, structure, fraction, over=None, rank=0, nblocks=0, all_structured=False):
    if preset not in PRESETS:
        raise ValueError("unknown preset %r: allowed values are %s" % (preset, ", ".join(PRESETS)))
    cfg = dict(PRESETS[preset], preset=preset, rope_base=10000.0, layer_norm_eps=1e-5,
               all_structured=all_structured)
    over = over or {}
    heads_before = cfg["heads"]
    for key in ("layers", "d_model", "heads", "head_dim", "ffn", "vocab", "ctx", "batch"):
        if over.get(key):
            cfg[key] = over[key]
    if over.get("kv_heads"):
        cfg["kv_heads"] = over["kv_heads"]
    elif cfg["heads"] != heads_before:
        cfg["kv_heads"] = cfg["heads"]      # heads overridden without kv_heads: plain MHA
    if over.get("lr"):
        cfg["lr"] = over["lr"]
    if structure not in KINDS:
        raise ValueError("unknown structure %r: allowed values are %s" % (structure, ", ".join(KINDS)))
    if rank > 0 or nblocks > 0:
        cfg.update(structure=structure, rank=rank, nblocks=nblocks)
    elif structure == "dense" or fraction == 1:
        cfg.update(structure="dense", rank=0, nblocks=0)
    else:
        r, b = size_for(structure, cfg["d_model"], cfg["ffn"], fraction)
        cfg.update(structure=structure, rank=r, nblocks=b)
    cfg["fraction"] = 1.0 if cfg["structure"] == "dense" else fraction
    if cfg["heads"] % cfg["kv_heads"]:
        raise ValueError("heads (%d) must be a multiple of kv_heads (%d)" % (cfg["heads"], cfg["kv_heads"]))
    if cfg["head_dim"] % 2:
        raise ValueError("head_dim must be even for RoPE (got %d)" % cfg["head_dim"])
    for layer in range(min(cfg["layers"], 2)):
        kind = ffn_kind(cfg, layer)
        if kind != "dense":
            validate_spec(kind, cfg["d_model"], cfg["ffn"], cfg["rank"], cfg["nblocks"])
            validate_spec(kind, cfg["ffn"], cfg["d_model"], cfg["rank"], cfg["nblocks"])
    return cfg


def default_cores():
    try:
        return len(os.sched_getaffinity(0))      # what Go's runtime.NumCPU reports on Linux
    except AttributeError:
        return os.cpu_count() or 1


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def check_params(args):
    """Accounting table, with the built nn.Module's parameter count as a cross-check."""
    ok = True
    for preset in CPU_PRESETS:
        for kind in KINDS:
            cfg = resolve(preset, kind, args.fraction, all_structured=args.all_structured)
            acc = accounting(cfg)
            torch.manual_seed(0)
            built = sum(p.numel() for p in GPT(cfg).parameters())
            row = dict(preset=preset, structure=cfg["structure"], fraction=cfg["fraction"], rank=cfg["rank"],
                       nblocks=cfg["nblocks"], params=acc["params"], ffn_params=acc["ffn_params"],
                       module_params=built, train_flops_per_token=acc["train_flops_per_token"])
            if built != acc["params"]:
                ok = False
                row["error"] = "nn.Module has %d parameters, accounting says %d" % (built, acc["params"])
            print(json.dumps(row), flush=True)
    return 0 if ok else 1


def module_name(path):
    """Go variable path (model/testdata/reference.json) -> this module's parameter name."""
    parts = path.split("/")
    leaf = {"embeddings": "weight", "weights": "weight", "scale": "weight", "offset": "bias"}.get(parts[-1], parts[-1])
    if parts[0] == "embed":
        return "embed.weight"
    if parts[0] == "ln_f":
        return "ln_f." + leaf
    layer = int(parts[0][len("block_"):])
    return ".".join(["blocks", str(layer)] + parts[1:-1] + [leaf])


def check_reference(path):
    """Loss and gradients of this nn.Module (in float64) against model/testdata/reference.json, the
    float64 reference that the Go model is tested against: the same function, independently built."""
    with open(path) as fh:
        ref = json.load(fh)
    worst = 0.0
    for case in ref["cases"]:
        c = case["config"]
        cfg = dict(c, ctx=c["context"], batch=len(case["tokens"]), all_structured=False, lr=0.0)
        model = GPT(cfg).double()
        model.set_rope(torch.float64)
        params = dict(model.named_parameters())
        seen = set()
        with torch.no_grad():
            for name, t in case["weights"].items():
                p = params[module_name(name)]
                p.copy_(torch.tensor(t["data"], dtype=torch.float64).reshape(t["shape"]))
                seen.add(module_name(name))
        if seen != set(params):
            raise SystemExit("%s: weights not covered: %s" % (case["name"], sorted(set(params) - seen)))
        loss = model(torch.tensor(case["tokens"]), torch.tensor(case["targets"]))
        loss.backward()
        errs = [abs(loss.item() - case["loss"]) / abs(case["loss"])]
        for name, g in case["grads"].items():
            want = torch.tensor(g["data"], dtype=torch.float64).reshape(g["shape"])
            got = params[module_name(name)].grad
            errs.append(((got - want).abs().max() / want.abs().max()).item())
        worst = max(worst, max(errs))
        print(json.dumps(dict(case=case["name"], structure=c["structure"], loss=loss.item(), want=case["loss"],
                              max_rel_err=max(errs))), flush=True)
    # The stored values are float64 results of torch 2.9.1; torch 2.15 reproduces them to ~1e-8 relative
    # (the reference script's own forward does too), so the bound is far above that and far below a
    # real mismatch (a wrong layout or op gives errors of order 1).
    ok = worst < 1e-6
    log("check-reference: %s (worst relative error %.3g)" % ("ok" if ok else "MISMATCH", worst))
    return 0 if ok else 1


# ------------------------------------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="tiny", choices=sorted(PRESETS))
    ap.add_argument("--structure", default="lowrank", choices=KINDS)
    ap.add_argument("--fraction", type=float, default=FRACTION32,
                    help="FFN parameter fraction of structured blocks (0.625 = 63%%, 0.3125 = 32%%)")
    ap.add_argument("--rank", type=int, default=0, help="explicit rank R (0: from --fraction)")
    ap.add_argument("--nblocks", type=int, default=0, help="explicit number of blocks B (0: from --fraction)")
    ap.add_argument("--all_structured", action="store_true", help="structure the first block's FFN too")
    for key in ("layers", "d_model", "heads", "kv_heads", "head_dim", "ffn", "vocab", "ctx", "batch"):
        ap.add_argument("--" + key, type=int, default=0, help="override the preset's %s (0: preset)" % key)
    ap.add_argument("--lr", type=float, default=0.0, help="learning rate (0: the preset's peak)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    ap.add_argument("--steps", type=int, default=5, help="measure at least this many steps")
    ap.add_argument("--min_time", type=float, default=10.0, help="and at least this many seconds")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: the CPUs this process may use)")
    ap.add_argument("--peak_tflops", type=float, default=0.0,
                    help="peak TFLOP/s for MFU (0: cores x 32 FLOP/cycle x 3.5 GHz, as the Go side)")
    ap.add_argument("--compile", action="store_true", help="torch.compile the model (forward + loss)")
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"),
                    help="where the step runs: cpu, or cuda (the first GPU; F.scaled_dot_product_attention then picks a fused kernel)")
    ap.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"),
                    help="compute dtype: float32, or bfloat16 under torch.autocast with float32 master weights "
                         "(as structffn's -set dtype=bfloat16)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ablate", default="none", choices=ABLATIONS,
                    help="time breakdowns: replace one kind of work by a stand-in (structffn/model/ablation.go)")
    ap.add_argument("--profile", metavar="N", type=int, default=0,
                    help="after timing, profile N steps with torch.profiler and print its table (self CPU time by op) to stderr")
    ap.add_argument("--check-params", dest="check_params", action="store_true",
                    help="print params and train_flops_per_token of every preset and structure, and exit")
    ap.add_argument("--check-reference", dest="check_reference", metavar="JSON", nargs="?",
                    const=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "model",
                                       "testdata", "reference.json"),
                    help="compare this model's float64 loss and gradients with the reference cases "
                         "(default structffn/model/testdata/reference.json), and exit")
    args = ap.parse_args(argv)

    if args.check_params:
        return check_params(args)
    if args.check_reference:
        return check_reference(args.check_reference)

    global ABLATE
    ABLATE = args.ablate
    threads = args.threads or default_cores()
    torch.set_num_threads(threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        log("train_bench: --device cuda: this torch (%s) sees no CUDA GPU; use --device cpu" % torch.__version__)
        return 2
    if args.device == "cuda":
        peak = args.peak_tflops        # a GPU's peak is not guessed: 0 = no MFU
    else:
        peak = args.peak_tflops or default_cores() * 32 * 3.5e9 / 1e12
    over = {k: getattr(args, k) for k in ("layers", "d_model", "heads", "kv_heads", "head_dim", "ffn",
                                          "vocab", "ctx", "batch", "lr")}
    try:
        cfg = resolve(args.preset, args.structure, args.fraction, over, args.rank, args.nblocks,
                      args.all_structured)
    except ValueError as e:
        log("train_bench: %s" % e)
        return 2
    acc = accounting(cfg)

    torch.manual_seed(args.seed)
    dev = torch.device(args.device)
    model = GPT(cfg)
    built = sum(p.numel() for p in model.parameters())
    if built != acc["params"]:
        raise SystemExit("internal error: module has %d parameters, accounting says %d" % (built, acc["params"]))
    model = model.to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg["lr"], betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1)
    fwd = torch.compile(model) if args.compile else model
    if args.device == "cuda":
        backend = "pytorch-cuda %s %s%s" % (torch.__version__, torch.cuda.get_device_name(dev),
                                            " compile" if args.compile else "")
    else:
        backend = "pytorch-cpu %s threads=%d%s" % (torch.__version__, threads, " compile" if args.compile else "")
    bf16 = args.dtype == "bfloat16"

    gen = torch.Generator().manual_seed(args.seed + 3)
    B, S, V = cfg["batch"], cfg["ctx"], cfg["vocab"]

    def step():
        data = torch.randint(0, V, (B, S + 1), generator=gen).to(dev, non_blocking=True)
        # bf16: matmuls and attention in bfloat16, reductions (norms, softmax, loss) in float32, as autocast
        # chooses; the weights and AdamW's state stay float32.
        with torch.autocast(args.device, dtype=torch.bfloat16, enabled=bf16):
            loss = fwd(data[:, :-1], data[:, 1:])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if ABLATE != "no_update":
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
        return loss.item()

    log("train_bench: %s %s R=%d B=%d (%d params) on %s ..." % (
        cfg["preset"], cfg["structure"], cfg["rank"], cfg["nblocks"], acc["params"], backend))
    t0 = time.perf_counter()
    for _ in range(max(1, args.warmup)):
        step()
    log("train_bench: warm-up %.1fs" % (time.perf_counter() - t0))
    steps, loss = 0, float("nan")
    start = time.perf_counter()
    while steps < max(1, args.steps) or time.perf_counter() - start < args.min_time:
        loss = step()
        steps += 1
    elapsed = time.perf_counter() - start

    tok_per_s = steps * B * S / elapsed
    res = dict(preset=cfg["preset"], structure=cfg["structure"], fraction=cfg["fraction"], backend=backend,
               tok_per_s=tok_per_s, ms_per_step=1000 * elapsed / steps,
               mfu=tok_per_s * acc["train_flops_per_token"] / (peak * 1e12) if peak > 0 else 0.0,
               peak_tflops=peak, loss=loss, steps=steps, layers=cfg["layers"], d_model=cfg["d_model"],
               heads=cfg["heads"], ffn=cfg["ffn"], ctx=S, batch=B, vocab=V, rank=cfg["rank"],
               nblocks=cfg["nblocks"], params=acc["params"], train_flops_per_token=acc["train_flops_per_token"],
               dtype=args.dtype)
    print(json.dumps(res), flush=True)
    if args.profile > 0:
        from torch.profiler import ProfilerActivity, profile
        acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if args.device == "cuda" else [])
        with profile(activities=acts) as prof:
            for _ in range(args.profile):
                step()
        key = "self_cuda_time_total" if args.device == "cuda" else "self_cpu_time_total"
        log(prof.key_averages().table(sort_by=key, row_limit=40))
    return 0


if __name__ == "__main__":
    sys.exit(main())
