#!/usr/bin/python3
"""Independent PyTorch reference for attnsim's transformer.

The model is written from the engine's documented math (sim/models/transformer.h and the layer
headers), using standard torch ops and autograd, not ported from the C++ code:

    x0        = embed(input) + pos                       (B, T, D)
    mid_l     = x_l + attn_l(norm1_l(x_l))               norm1 only with model.norm = pre_ln
    x_{l+1}   = mid_l + mlp_l(norm2_l(mid_l))            only when d_mlp > 0
    outputs   = head(norm_f(x_L[scored]))                norm_f only with model.norm = pre_ln
    loss      = mean cross-entropy (class tasks) | mean (p - y)^2 (scalar tasks)

Parameters keep the engine's names and (rows, cols) shapes: weights are (out, in), `embed.tok` is
(D, V), `embed.pos` is (D, T). On disk (HDF5, as in run files) an engine (rows, cols) matrix is a
C-order dataset [cols, rows] (numpy reads W.T), a vector is [n]; each has attribute
engine_shape = [rows, cols].

Subcommands:
    parity IN.h5 OUT.h5   IN is a case file written by tests/parity/torch_parity_test.cc:
                            root attributes config (resolved INI), input (tokens|vectors),
                            output (classes|scalar), vocab, d_in, n_classes, T, B;
                            /params/<name>; /batch/tokens [B, T] int32 | /batch/vectors [B*T, Din];
                            /batch/scored [S] (columns b*T + t); /batch/labels [S] | /batch/values [S];
                            optional /batch/head_gates/<layer> [H_l].
                          Computes loss and gradients in float64 and writes OUT with /torch/loss
                          (scalar) and /torch/grads/<name> (float64, same layout as /params).
                          With -v, also prints a comparison with /engine/* when IN has them.

Model construction (ModelSpec, Transformer, load_params, forward_loss, init_params) is kept
separate from the subcommands so that a speed-comparison `bench` subcommand (float32, AdamW) can
reuse it.
"""

import argparse
import dataclasses
import math
import sys
from typing import Dict, List, Optional

EXIT_MISSING_DEPENDENCY = 77  # the parity test skips (rather than fails) on this exit code

try:
    import h5py
    import numpy as np
    import torch
    import torch.nn.functional as F
    from torch import nn
except ImportError as _e:
    if __name__ == "__main__":
        print(f"torch_reference.py: missing dependency: {_e} (interpreter {sys.executable}; "
              "use /usr/bin/python3 with python3-torch and python3-h5py)", file=sys.stderr)
        sys.exit(EXIT_MISSING_DEPENDENCY)
    raise

LN_EPS = 1e-5


class ReferenceError(Exception):
    """A problem with the inputs (bad config, missing dataset, shape mismatch)."""


# ---------------------------------------------------------------------------------------------
# Configuration


def parse_ini(text: str) -> Dict[str, str]:
    """Parses resolved INI text into {"section.key": "value"}."""
    out: Dict[str, str] = {}
    section = None
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#") or line.startswith(";"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
            continue
        if "=" not in line or section is None:
            raise ReferenceError(f"config line {lineno}: cannot parse {raw!r}")
        key, value = line.split("=", 1)
        out[f"{section}.{key.strip()}"] = value.strip()
    return out


def _get(cfg: Dict[str, str], key: str) -> str:
    if key not in cfg:
        raise ReferenceError(f"config has no key {key}")
    return cfg[key]


def _bool(cfg: Dict[str, str], key: str) -> bool:
    text = _get(cfg, key).lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise ReferenceError(f"{key}: expected true or false, got {text!r}")


def _choice(cfg: Dict[str, str], key: str, choices) -> str:
    text = _get(cfg, key)
    if text not in choices:
        raise ReferenceError(f"{key}: expected one of {', '.join(choices)}, got {text!r}")
    return text


@dataclasses.dataclass
class ModelSpec:
    # From the task.
    input: str          # tokens | vectors
    vocab: int          # V (tokens)
    d_in: int           # Din (vectors)
    output: str         # classes | scalar
    n_classes: int      # C (1 for scalar outputs)
    max_len: int        # T
    # From model.*.
    layers: int
    heads: List[int]    # one per layer
    d_model: int
    d_mlp: int
    norm: str           # pre_ln | none
    pos: str            # learned | sinusoidal | none
    causal: bool
    act: str            # gelu | gelu_tanh | relu
    bias: bool
    init: str           # fan_in | gpt2


def model_spec(config_text: str, input_kind: str, vocab: int, d_in: int, output_kind: str,
               n_classes: int, length: int) -> ModelSpec:
    """The model described by the resolved INI text plus the task's sizes."""
    cfg = parse_ini(config_text)
    mixer = _get(cfg, "model.mixer")
    if mixer != "attention":
        raise ReferenceError(f"model.mixer={mixer!r}: only attention is implemented here")
    layers = int(_get(cfg, "model.layers"))
    d_model = int(_get(cfg, "model.d_model"))
    heads = [int(h) for h in _get(cfg, "model.heads").split(",") if h.strip()]
    if len(heads) == 1:
        heads = heads * layers
    if len(heads) != layers:
        raise ReferenceError(f"model.heads: {len(heads)} values for {layers} layers")
    for l, h in enumerate(heads):
        if h < 1 or d_model % h:
            raise ReferenceError(f"model.heads: layer {l} has {h} heads, d_model={d_model}")
    mlp = _get(cfg, "model.d_mlp")
    d_mlp = int(float(mlp[:-1]) * d_model + 0.5) if mlp.endswith("x") else int(mlp)
    if input_kind not in ("tokens", "vectors"):
        raise ReferenceError(f"input kind {input_kind!r}")
    if output_kind not in ("classes", "scalar"):
        raise ReferenceError(f"output kind {output_kind!r}")
    return ModelSpec(
        input=input_kind, vocab=vocab, d_in=d_in, output=output_kind,
        n_classes=n_classes if output_kind == "classes" else 1, max_len=length,
        layers=layers, heads=heads, d_model=d_model, d_mlp=d_mlp,
        norm=_choice(cfg, "model.norm", ("pre_ln", "none")),
        pos=_choice(cfg, "model.pos", ("learned", "sinusoidal", "none")),
        causal=_bool(cfg, "model.causal"),
        act=_choice(cfg, "model.act", ("gelu", "gelu_tanh", "relu")),
        bias=_bool(cfg, "model.bias"),
        init=_choice(cfg, "model.init", ("fan_in", "gpt2")),
    )


# ---------------------------------------------------------------------------------------------
# Model. Every parameter has the engine's name (module path) and (rows, cols) shape.


def _param(*shape, dtype):
    return nn.Parameter(torch.zeros(*shape, dtype=dtype))


def sinusoidal_table(d_model: int, length: int, dtype) -> torch.Tensor:
    """(T, D): pe[t, 2i] = sin(t / 10000^(2i/D)), pe[t, 2i+1] = cos(t / 10000^(2i/D))."""
    t = torch.arange(length, dtype=torch.float64).unsqueeze(1)          # (T, 1)
    two_i = torch.arange(0, d_model, 2, dtype=torch.float64)             # (ceil(D/2))
    angle = t / torch.pow(10000.0, two_i / d_model)                     # (T, ceil(D/2))
    pe = torch.zeros(length, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle[:, : d_model // 2])
    return pe.to(dtype)


class LayerNormP(nn.Module):
    def __init__(self, d, dtype):
        super().__init__()
        self.gamma = _param(d, dtype=dtype)
        self.beta = _param(d, dtype=dtype)

    def forward(self, x):
        return F.layer_norm(x, (x.shape[-1],), self.gamma, self.beta, LN_EPS)


class LinearP(nn.Module):
    """y = x W^T + b with W (out, in); parameter names chosen by the caller."""

    def __init__(self, d_in, d_out, bias, dtype, w="w", b="b"):
        super().__init__()
        self._w, self._b = w, b
        self.register_parameter(w, _param(d_out, d_in, dtype=dtype))
        self.register_parameter(b, _param(d_out, dtype=dtype) if bias else None)

    def forward(self, x):
        return F.linear(x, getattr(self, self._w), getattr(self, self._b))


class Attention(nn.Module):
    def __init__(self, d, n_heads, causal, bias, dtype):
        super().__init__()
        self.n_heads, self.causal = n_heads, causal
        for name in ("q", "k", "v", "o"):
            self.register_parameter("w" + name, _param(d, d, dtype=dtype))
            self.register_parameter("b" + name, _param(d, dtype=dtype) if bias else None)

    def forward(self, x, gate: Optional[torch.Tensor] = None):
        b, t, d = x.shape
        h = self.n_heads
        dh = d // h

        def split(y):  # (B, T, D) -> (B, H, T, Dh)
            return y.view(b, t, h, dh).transpose(1, 2)

        q = split(F.linear(x, self.wq, self.bq))
        k = split(F.linear(x, self.wk, self.bk))
        v = split(F.linear(x, self.wv, self.bv))
        scores = q @ k.transpose(-2, -1) / math.sqrt(dh)                  # (B, H, Tq, Tk)
        if self.causal:
            future = torch.ones(t, t, dtype=torch.bool, device=x.device).triu(1)
            scores = scores.masked_fill(future, float("-inf"))
        o = torch.softmax(scores, dim=-1) @ v                             # (B, H, T, Dh)
        if gate is not None:
            o = o * gate.view(1, h, 1, 1)
        o = o.transpose(1, 2).reshape(b, t, d)
        return F.linear(o, self.wo, self.bo)


class Mlp(nn.Module):
    def __init__(self, d, f, act, bias, dtype):
        super().__init__()
        self.act = act
        self.w1 = _param(f, d, dtype=dtype)
        self.b1 = _param(f, dtype=dtype) if bias else None
        self.w2 = _param(d, f, dtype=dtype)
        self.b2 = _param(d, dtype=dtype) if bias else None

    def forward(self, x):
        hidden = F.linear(x, self.w1, self.b1)
        if self.act == "gelu":
            a = F.gelu(hidden)
        elif self.act == "gelu_tanh":
            a = F.gelu(hidden, approximate="tanh")
        else:
            a = F.relu(hidden)
        return F.linear(a, self.w2, self.b2)


class Block(nn.Module):
    def __init__(self, spec: ModelSpec, layer: int, dtype):
        super().__init__()
        d = spec.d_model
        pre_ln = spec.norm == "pre_ln"
        self.norm1 = LayerNormP(d, dtype) if pre_ln else None
        self.attn = Attention(d, spec.heads[layer], spec.causal, spec.bias, dtype)
        self.norm2 = LayerNormP(d, dtype) if pre_ln and spec.d_mlp > 0 else None
        self.mlp = Mlp(d, spec.d_mlp, spec.act, spec.bias, dtype) if spec.d_mlp > 0 else None

    def forward(self, x, gate=None):
        x = x + self.attn(self.norm1(x) if self.norm1 is not None else x, gate)
        if self.mlp is not None:
            x = x + self.mlp(self.norm2(x) if self.norm2 is not None else x)
        return x


class Embed(nn.Module):
    def __init__(self, spec: ModelSpec, dtype):
        super().__init__()
        d = spec.d_model
        if spec.input == "tokens":
            self.tok = _param(d, spec.vocab, dtype=dtype)                 # (D, V)
        else:
            self.add_module("in", LinearP(spec.d_in, d, True, dtype))    # embed.in.w, embed.in.b
        self.pos_kind = spec.pos
        if spec.pos == "learned":
            self.pos = _param(d, spec.max_len, dtype=dtype)               # (D, T)
        elif spec.pos == "sinusoidal":
            self.register_buffer("pe", sinusoidal_table(d, spec.max_len, dtype), persistent=False)

    def forward(self, inputs):
        """inputs: token ids (B, T) long, or vectors (B, T, Din). Returns (B, T, D)."""
        if hasattr(self, "tok"):
            x = F.embedding(inputs, self.tok.t())
        else:
            x = getattr(self, "in")(inputs)
        t = x.shape[1]
        if self.pos_kind == "learned":
            x = x + self.pos.t()[:t]
        elif self.pos_kind == "sinusoidal":
            x = x + self.pe[:t]
        return x


class Transformer(nn.Module):
    def __init__(self, spec: ModelSpec, dtype=torch.float64):
        super().__init__()
        self.spec = spec
        self.embed = Embed(spec, dtype)
        self.blocks = nn.ModuleList([Block(spec, l, dtype) for l in range(spec.layers)])
        self.norm_f = LayerNormP(spec.d_model, dtype) if spec.norm == "pre_ln" else None
        self.head = LinearP(spec.d_model, spec.n_classes, True, dtype)

    def forward(self, inputs, scored, head_gates=None):
        """Outputs (S, C) at the flattened positions `scored` (indices b*T + t)."""
        x = self.embed(inputs)
        for l, block in enumerate(self.blocks):
            x = block(x, None if head_gates is None else head_gates[l])
        h = x.reshape(-1, x.shape[-1])[scored]                           # (S, D)
        if self.norm_f is not None:
            h = self.norm_f(h)
        return self.head(h)


def build_model(spec: ModelSpec, dtype=torch.float64, device="cpu") -> Transformer:
    return Transformer(spec, dtype).to(device)


def loss_fn(spec: ModelSpec, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    if spec.output == "classes":
        return F.cross_entropy(outputs, targets)
    return ((outputs.squeeze(-1) - targets) ** 2).mean()


def forward_loss(model: Transformer, batch: dict) -> torch.Tensor:
    outputs = model(batch["inputs"], batch["scored"], batch.get("head_gates"))
    return loss_fn(model.spec, outputs, batch["targets"])


@torch.no_grad()
def init_params(model: Transformer, generator: Optional[torch.Generator] = None) -> None:
    """The engine's documented initialization (not its random stream): fan_in: weights
    N(0, 1/fan_in), embeddings N(0, 1); gpt2: N(0, 0.02^2) with wo and w2 scaled by 1/sqrt(2L).
    Biases and LayerNorm beta zero, gamma one."""
    spec = model.spec
    gpt2 = spec.init == "gpt2"
    residual = 0.02 / math.sqrt(2.0 * spec.layers)
    for name, p in model.named_parameters():
        leaf = name.rsplit(".", 1)[-1]
        if leaf == "gamma":
            p.fill_(1.0)
            continue
        if p.dim() == 1:
            p.zero_()
            continue
        if name in ("embed.tok", "embed.pos"):
            std = 0.02 if gpt2 else 1.0
        elif leaf in ("wo", "w2"):
            std = residual if gpt2 else 1.0 / math.sqrt(p.shape[1])
        else:
            std = 0.02 if gpt2 else 1.0 / math.sqrt(p.shape[1])
        p.normal_(0.0, std, generator=generator)


# ---------------------------------------------------------------------------------------------
# HDF5 layout


def read_engine_tensor(dset) -> np.ndarray:
    """A /params-style dataset as an engine-shaped (rows, cols) matrix or (n,) vector."""
    data = np.asarray(dset[()], dtype=np.float64)
    if data.ndim == 1:
        return data
    if data.ndim != 2:
        raise ReferenceError(f"{dset.name}: rank {data.ndim}, expected 1 or 2")
    return data.T


def write_engine_tensor(group, name: str, value: np.ndarray) -> None:
    """Writes an engine-shaped array in the /params layout ([cols, rows] or [n]), float64."""
    value = np.asarray(value, dtype=np.float64)
    if value.ndim == 1:
        dset = group.create_dataset(name, data=value)
        dset.attrs["engine_shape"] = np.array([value.shape[0], 1], dtype=np.int64)
    else:
        dset = group.create_dataset(name, data=np.ascontiguousarray(value.T))
        dset.attrs["engine_shape"] = np.array(value.shape, dtype=np.int64)


@torch.no_grad()
def load_params(model: Transformer, params_group) -> None:
    """Copies every /params/<name> into the model; names and shapes must match exactly."""
    ours = dict(model.named_parameters())
    theirs = set(params_group.keys())
    missing, extra = sorted(set(ours) - theirs), sorted(theirs - set(ours))
    if missing or extra:
        raise ReferenceError(f"parameter names differ: missing in file {missing}, "
                             f"not in the reference model {extra}")
    for name, p in ours.items():
        value = read_engine_tensor(params_group[name])
        attr = params_group[name].attrs.get("engine_shape")
        if attr is not None:
            rows, cols = (int(v) for v in attr)
            expect = (rows,) if cols == 1 and value.ndim == 1 else (rows, cols)
            if tuple(value.shape) != expect:
                raise ReferenceError(f"{name}: data {value.shape} vs engine_shape {expect}")
        if tuple(value.shape) != tuple(p.shape):
            raise ReferenceError(f"{name}: file has {tuple(value.shape)}, model expects "
                                 f"{tuple(p.shape)}")
        p.copy_(torch.from_numpy(value).to(p.dtype))


def _attr(f, name):
    if name not in f.attrs:
        raise ReferenceError(f"{f.filename}: missing root attribute {name}")
    value = f.attrs[name]
    return value.decode() if isinstance(value, bytes) else value


def _dataset(f, path):
    if path not in f:
        raise ReferenceError(f"{f.filename}: missing dataset {path}")
    return f[path][()]


def read_case(f, dtype=torch.float64):
    """(spec, batch) from a parity case file."""
    spec = model_spec(str(_attr(f, "config")), str(_attr(f, "input")), int(_attr(f, "vocab")),
                      int(_attr(f, "d_in")), str(_attr(f, "output")), int(_attr(f, "n_classes")),
                      int(_attr(f, "T")))
    b, t = int(_attr(f, "B")), int(_attr(f, "T"))
    if spec.input == "tokens":
        tokens = np.asarray(_dataset(f, "batch/tokens"), dtype=np.int64)
        if tokens.shape != (b, t):
            raise ReferenceError(f"batch/tokens is {tokens.shape}, expected {(b, t)}")
        if tokens.min() < 0 or tokens.max() >= spec.vocab:
            raise ReferenceError(f"batch/tokens outside [0, {spec.vocab})")
        inputs = torch.from_numpy(tokens)
    else:
        vectors = np.asarray(_dataset(f, "batch/vectors"), dtype=np.float64)
        if vectors.shape != (b * t, spec.d_in):
            raise ReferenceError(f"batch/vectors is {vectors.shape}, expected {(b * t, spec.d_in)}")
        inputs = torch.from_numpy(vectors.reshape(b, t, spec.d_in)).to(dtype)
    scored = np.asarray(_dataset(f, "batch/scored"), dtype=np.int64)
    if scored.ndim != 1 or scored.size == 0 or scored.min() < 0 or scored.max() >= b * t:
        raise ReferenceError("batch/scored must be a non-empty list of columns in [0, B*T)")
    if spec.output == "classes":
        targets = torch.from_numpy(np.asarray(_dataset(f, "batch/labels"), dtype=np.int64))
        if targets.min() < 0 or targets.max() >= spec.n_classes:
            raise ReferenceError(f"batch/labels outside [0, {spec.n_classes})")
    else:
        targets = torch.from_numpy(np.asarray(_dataset(f, "batch/values"), dtype=np.float64)).to(dtype)
    if targets.shape != (scored.size,):
        raise ReferenceError(f"targets have shape {tuple(targets.shape)}, expected ({scored.size},)")
    batch = {"inputs": inputs, "scored": torch.from_numpy(scored), "targets": targets}
    if "batch/head_gates" in f:
        gates = []
        for l in range(spec.layers):
            g = np.asarray(_dataset(f, f"batch/head_gates/{l}"), dtype=np.float64)
            if g.shape != (spec.heads[l],):
                raise ReferenceError(f"batch/head_gates/{l} is {g.shape}, expected ({spec.heads[l]},)")
            gates.append(torch.from_numpy(g).to(dtype))
        batch["head_gates"] = gates
    return spec, batch


# ---------------------------------------------------------------------------------------------
# Subcommands


def cmd_parity(args) -> int:
    torch.set_default_dtype(torch.float64)
    with h5py.File(args.input, "r") as f:
        spec, batch = read_case(f)
        model = build_model(spec, torch.float64)
        if "params" not in f:
            raise ReferenceError(f"{args.input}: missing group /params")
        load_params(model, f["params"])
        engine = None
        if args.verbose and "engine/loss" in f:
            engine = {"loss": float(f["engine/loss"][()]),
                      "grads": {n: read_engine_tensor(f["engine/grads"][n]) for n in f["engine/grads"]}}
    model.zero_grad(set_to_none=False)
    loss = forward_loss(model, batch)
    loss.backward()
    grads = {name: p.grad.detach().numpy().copy() for name, p in model.named_parameters()}
    with h5py.File(args.output, "w") as out:
        out.create_dataset("torch/loss", data=np.float64(loss.item()))
        g = out.create_group("torch/grads")
        for name, value in grads.items():
            write_engine_tensor(g, name, value)
    if engine is not None:
        print(f"loss  engine {engine['loss']:.10g}  torch {loss.item():.10g}")
        for name, value in grads.items():
            e = engine["grads"].get(name)
            if e is None:
                print(f"{name:28s} missing in engine")
                continue
            err = np.linalg.norm(e - value) / max(np.linalg.norm(value), 1e-12)
            print(f"{name:28s} |g| {np.linalg.norm(value):.3e}  rel err {err:.3e}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("parity", help="loss and gradients of a case file, float64 autograd")
    p.add_argument("input", help="case file written by torch_parity_test")
    p.add_argument("output", help="file to write /torch/loss and /torch/grads/* into")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="print a comparison with /engine/* of the case file")
    p.set_defaults(func=cmd_parity)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ReferenceError, OSError, KeyError, ValueError) as e:
        print(f"torch_reference.py: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
