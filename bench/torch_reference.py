#!/usr/bin/python3
"""Independent PyTorch reference for attnsim's transformer.

The model is written from the engine's documented math (sim/models/transformer.h and the layer
headers), using standard torch ops and autograd, not ported from the C++ code:

    x0        = embed(input) + pos                       (B, T, D)
    mid_l     = x_l + attn_l(norm1_l(x_l))               norm1 only with model.norm = pre_ln
                attn: softmax(q k^T / sqrt(Dh)) v, or with model.attention = linear
                      (q k^T / sqrt(Dh) / n_q) v over the keys query q sees (n_q of them)
    x_{l+1}   = mid_l + mlp_l(norm2_l(mid_l))            only when d_mlp > 0
    outputs   = head(norm_f(x_L[scored]))                norm_f only with model.norm = pre_ln
    loss      = mean cross-entropy (class tasks) | mean (p - y)^2 (scalar tasks)

LoRA (lora.targets, sim/train/lora.h), written as a PyTorch LoRA layer is (Hu et al. 2021), not as
the engine's merged weight: a target weight W (out, in) used in a product computes
W x + (alpha/r) B (A x) with adapters lora.<name>.a = A (r, in) and lora.<name>.b = B (out, r); a
target used as a table (embed.tok, embed.pos) is read as W + (alpha/r) B A. The case file's slot
of a target holds the base weight W0.

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

    bench CASE.h5 [--threads 1|2] [--setting NAME] [--seconds S] [--reps R] [--json]
                  [--warmup W] [--foreach on|off] [--malloc tuned|default] [--name NAME]
                          CASE is a case file written by `sim bench --export-dir DIR` (same layout,
                          without /engine). Times full float32 training steps of the same model,
                          initial weights and batch as the engine: forward, mean cross-entropy over
                          the scored positions, backward, global grad-norm clip (train.clip),
                          AdamW (lr 1e-4, betas/eps/weight decay from the config), zero_grad.
                          The model is written as a researcher would for speed (FastTransformer:
                          fused QKV nn.Linear, nn.LayerNorm, nn.GELU, precomputed causal mask,
                          F.cross_entropy, foreach AdamW); its first loss is checked against the
                          reference model above. Thread settings (THREAD_SETTINGS) are applied to
                          the environment before torch (and numpy, which loads the BLAS too) is
                          imported; --malloc tuned (the default) re-executes the script once with
                          GLIBC_TUNABLES set so that freed memory is kept. Prints the BLAS that
                          torch loaded. See docs/benchmarks.md.

Model construction (ModelSpec, Transformer, load_params, forward_loss, init_params) is kept
separate from the subcommands; `bench` reuses it for its parameter loading and its loss check.
"""

import argparse
import dataclasses
import math
import os
import re
import sys
from typing import Dict, List, Optional

EXIT_MISSING_DEPENDENCY = 77  # the parity test skips (rather than fails) on this exit code

# ---------------------------------------------------------------------------------------------
# bench: thread settings. OpenMP (libgomp) and OpenBLAS read these variables once, when they are
# loaded, i.e. when numpy or torch is first imported; so `bench` applies them below, before the
# imports (equivalent to re-executing with a new environment, without paying torch's import twice).
# "threads" is the number of cores the setting may use; "torch" is torch.set_num_threads.
# Variables mapped to None are removed from the environment.

THREAD_SETTINGS = {
    "t1": {"threads": 1, "torch": 1,
           "env": {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                   "OMP_WAIT_POLICY": None}},
    "t2": {"threads": 2, "torch": 2,
           "env": {"OMP_NUM_THREADS": "2", "OPENBLAS_NUM_THREADS": "2", "MKL_NUM_THREADS": "2",
                   "OMP_WAIT_POLICY": None}},
    # ../specs/perf.md: PyTorch's best 2-core setting on the Zen 4 reference machine.
    "t1blas2": {"threads": 2, "torch": 1,
                "env": {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "2", "MKL_NUM_THREADS": "1",
                        "OMP_WAIT_POLICY": "passive"}},
    "t2passive": {"threads": 2, "torch": 2,
                  "env": {"OMP_NUM_THREADS": "2", "OPENBLAS_NUM_THREADS": "2", "MKL_NUM_THREADS": "2",
                          "OMP_WAIT_POLICY": "passive"}},
}
DEFAULT_SETTING = {1: "t1", 2: "t2"}

# bench --malloc tuned (the default): glibc's malloc keeps freed memory instead of returning large
# blocks to the system (mmap'ed above a threshold, trimmed from the heap top), which otherwise makes
# every step re-fault the pages of its large temporaries (10-25k page faults per step on mid and
# large; +7% to +50% steps/s here). The same effect as running PyTorch under jemalloc or tcmalloc.
# glibc reads GLIBC_TUNABLES at start-up, so `bench` re-executes itself once to apply it.
MALLOC_TUNABLES = "glibc.malloc.mmap_threshold=2147483647:glibc.malloc.trim_threshold=4294967295"


def resolve_setting(threads: Optional[int], setting: Optional[str]) -> str:
    """The thread setting of `bench --threads/--setting`; raises ValueError on a bad pair."""
    if setting is None:
        if threads is None:
            threads = 1
        if threads not in DEFAULT_SETTING:
            raise ValueError(f"--threads: 1 or 2 (given {threads})")
        return DEFAULT_SETTING[threads]
    if setting not in THREAD_SETTINGS:
        raise ValueError(f"--setting: unknown {setting!r} (valid: {', '.join(THREAD_SETTINGS)})")
    if threads is not None and threads != THREAD_SETTINGS[setting]["threads"]:
        raise ValueError(f"--setting {setting} uses {THREAD_SETTINGS[setting]['threads']} "
                         f"core(s), not --threads {threads}")
    return setting


def _apply_bench_environment(argv) -> None:
    if len(argv) < 2 or argv[1] != "bench":
        return
    early = argparse.ArgumentParser(add_help=False)
    early.add_argument("--threads", type=int)
    early.add_argument("--setting")
    early.add_argument("--malloc", default="tuned")
    try:
        known, _ = early.parse_known_args(argv[2:])
        setting = resolve_setting(known.threads, known.setting)
    except (ValueError, SystemExit):
        return  # main() reports the error
    for key, value in THREAD_SETTINGS[setting]["env"].items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    tunables = os.environ.get("GLIBC_TUNABLES", "")
    if known.malloc == "tuned" and MALLOC_TUNABLES not in tunables:
        os.environ["GLIBC_TUNABLES"] = tunables + (":" if tunables else "") + MALLOC_TUNABLES
        os.execv(sys.executable, [sys.executable] + argv)


if __name__ == "__main__":
    _apply_bench_environment(sys.argv)

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
    mixers: List[str]   # one per layer: a key of MIXER_TWINS (model.mixer)
    heads: List[int]    # one per layer
    d_model: int
    d_mlp: int
    norm: str           # pre_ln | none
    pos: str            # learned | sinusoidal | none
    causal: bool
    act: str            # gelu | gelu_tanh | relu
    bias: bool
    init: str           # fan_in | gpt2 | heads
    head_mask: List[List[int]] = dataclasses.field(default_factory=list)  # per layer: heads fixed at 0
    attention: str = "softmax"           # softmax | linear (model.attention)
    pos_std: Optional[float] = None      # model.pos_std; None = the init scheme's
    lora_targets: List[str] = dataclasses.field(default_factory=list)  # lora.targets (glob patterns)
    lora_rank: int = 4                   # lora.rank
    lora_alpha: Optional[float] = None   # lora.alpha; None = the rank (scale 1)


def model_spec(config_text: str, input_kind: str, vocab: int, d_in: int, output_kind: str,
               n_classes: int, length: int) -> ModelSpec:
    """The model described by the resolved INI text plus the task's sizes."""
    cfg = parse_ini(config_text)
    layers = int(_get(cfg, "model.layers"))
    mixers = [m.strip() for m in _get(cfg, "model.mixer").split(",") if m.strip()]
    if len(mixers) == 1:
        mixers = mixers * layers
    if len(mixers) != layers:
        raise ReferenceError(f"model.mixer: {len(mixers)} values for {layers} layers")
    for m in mixers:
        if m not in MIXER_TWINS:
            raise ReferenceError(f"model.mixer={m!r}: no PyTorch twin here (known: {', '.join(MIXER_TWINS)}); "
                                 "add one to MIXER_TWINS")
    d_model = int(_get(cfg, "model.d_model"))
    heads = [int(h) for h in _get(cfg, "model.heads").split(",") if h.strip()]
    if len(heads) == 1:
        heads = heads * layers
    if len(heads) != layers:
        raise ReferenceError(f"model.heads: {len(heads)} values for {layers} layers")
    for l, h in enumerate(heads):
        if h < 1 or d_model % h:
            raise ReferenceError(f"model.heads: layer {l} has {h} heads, d_model={d_model}")
    head_mask = [[] for _ in range(layers)]
    mask_text = cfg.get("model.head_mask", "none").strip()
    if mask_text not in ("", "none"):
        for entry in filter(None, (e.strip() for e in mask_text.split(";"))):
            where, heads_text = entry.split(":")
            layer = int(where[len("blocks."):])
            head_mask[layer] = [int(h) for h in heads_text.split(",")]
    # Keys added after runs existed are left out of a config at their defaults.
    attention = cfg.get("model.attention", "softmax")
    if attention not in ("softmax", "linear"):
        raise ReferenceError(f"model.attention: expected softmax or linear, got {attention!r}")
    mlp = _get(cfg, "model.d_mlp")
    d_mlp = int(float(mlp[:-1]) * d_model + 0.5) if mlp.endswith("x") else int(mlp)
    if input_kind not in ("tokens", "vectors"):
        raise ReferenceError(f"input kind {input_kind!r}")
    if output_kind not in ("classes", "scalar"):
        raise ReferenceError(f"output kind {output_kind!r}")
    return ModelSpec(
        input=input_kind, vocab=vocab, d_in=d_in, output=output_kind,
        n_classes=n_classes if output_kind == "classes" else 1, max_len=length,
        layers=layers, mixers=mixers, heads=heads, d_model=d_model, d_mlp=d_mlp,
        norm=_choice(cfg, "model.norm", ("pre_ln", "none")),
        pos=_choice(cfg, "model.pos", ("learned", "sinusoidal", "none")),
        causal=_bool(cfg, "model.causal"),
        act=_choice(cfg, "model.act", ("gelu", "gelu_tanh", "relu")),
        bias=_bool(cfg, "model.bias"),
        init=_choice(cfg, "model.init", ("fan_in", "gpt2", "heads")),
        head_mask=head_mask,
        attention=attention,
        pos_std=None if cfg.get("model.pos_std", "auto") == "auto" else float(cfg["model.pos_std"]),
        lora_targets=[t.strip() for t in cfg.get("lora.targets", "none").split(",")
                      if t.strip() and t.strip() != "none"],
        lora_rank=int(cfg.get("lora.rank", "4")),
        lora_alpha=None if cfg.get("lora.alpha", "auto") == "auto" else float(cfg["lora.alpha"]),
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


def glob_match(pattern: str, name: str) -> bool:
    """The engine's parameter globs (sim/core/glob.h): `*` any run of characters, dots included;
    `?` one character; nothing else is special."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, name) is not None


class LoraAdapter(nn.Module):
    """A (r, in), B (out, r) and the scale alpha/r of one target weight."""

    def __init__(self, d_out, d_in, rank, scale, dtype):
        super().__init__()
        self.a = _param(rank, d_in, dtype=dtype)
        self.b = _param(d_out, rank, dtype=dtype)
        self.scale = scale


def _adapter(module: nn.Module, w: str) -> Optional[LoraAdapter]:
    return module.__dict__.get("_lora", {}).get(w)


def _linear(module: nn.Module, x, w: str, b: Optional[str]):
    """x W^T + b for the module's weight `w`, plus the LoRA branch s (x A^T) B^T when W is a target."""
    y = F.linear(x, getattr(module, w), getattr(module, b) if b else None)
    adapter = _adapter(module, w)
    if adapter is not None:
        y = y + adapter.scale * F.linear(F.linear(x, adapter.a), adapter.b)
    return y


def _table(module: nn.Module, w: str):
    """The module's weight `w` used as a table (embeddings, positions): W + s B A when a target."""
    weight = getattr(module, w)
    adapter = _adapter(module, w)
    return weight if adapter is None else weight + adapter.scale * (adapter.b @ adapter.a)


class LinearP(nn.Module):
    """y = x W^T + b with W (out, in); parameter names chosen by the caller."""

    def __init__(self, d_in, d_out, bias, dtype, w="w", b="b"):
        super().__init__()
        self._w, self._b = w, b
        self.register_parameter(w, _param(d_out, d_in, dtype=dtype))
        self.register_parameter(b, _param(d_out, dtype=dtype) if bias else None)

    def forward(self, x):
        return _linear(self, x, self._w, self._b if getattr(self, self._b) is not None else None)


class Attention(nn.Module):
    """Multi-head attention. softmax: each query's weights are softmax(q k^T / sqrt(Dh)) over the
    keys it sees. linear: the scores q k^T / sqrt(Dh) divided by the number of keys the query sees
    (q + 1 causal, T bidirectional), 0 for the others (von Oswald et al. 2023)."""

    def __init__(self, d, n_heads, causal, bias, dtype, linear=False):
        super().__init__()
        self.n_heads, self.causal, self.linear = n_heads, causal, linear
        for name in ("q", "k", "v", "o"):
            self.register_parameter("w" + name, _param(d, d, dtype=dtype))
            self.register_parameter("b" + name, _param(d, dtype=dtype) if bias else None)

    def forward(self, x, gate: Optional[torch.Tensor] = None):
        b, t, d = x.shape
        h = self.n_heads
        dh = d // h

        def split(y):  # (B, T, D) -> (B, H, T, Dh)
            return y.view(b, t, h, dh).transpose(1, 2)

        q = split(_linear(self, x, "wq", "bq"))
        k = split(_linear(self, x, "wk", "bk"))
        v = split(_linear(self, x, "wv", "bv"))
        scores = q @ k.transpose(-2, -1) / math.sqrt(dh)                  # (B, H, Tq, Tk)
        future = torch.ones(t, t, dtype=torch.bool, device=x.device).triu(1)
        if self.linear:
            if self.causal:
                seen = torch.arange(1, t + 1, dtype=x.dtype, device=x.device).view(t, 1)  # (Tq, 1)
                weights = scores.masked_fill(future, 0.0) / seen
            else:
                weights = scores / t
        else:
            if self.causal:
                scores = scores.masked_fill(future, float("-inf"))
            weights = torch.softmax(scores, dim=-1)
        o = weights @ v                                                   # (B, H, T, Dh)
        if gate is not None:
            o = o * gate.view(1, h, 1, 1)
        o = o.transpose(1, 2).reshape(b, t, d)
        return _linear(self, o, "wo", "bo")


# The twin of every sequence mixer the engine registers (sim/layers/mixer_registry.cc): model.mixer
# name -> (parameter name segment, builder(spec, layer, dtype)). A twin's forward takes (x, gate),
# x (B, T, D), gate (H) or None, and returns (B, T, D). tests/parity runs a case for every registered
# mixer, so a mixer without a twin here fails there.
MIXER_TWINS = {
    "attention": ("attn", lambda spec, layer, dtype: Attention(spec.d_model, spec.heads[layer], spec.causal,
                                                               spec.bias, dtype, spec.attention == "linear")),
}


class Mlp(nn.Module):
    def __init__(self, d, f, act, bias, dtype):
        super().__init__()
        self.act = act
        self.w1 = _param(f, d, dtype=dtype)
        self.b1 = _param(f, dtype=dtype) if bias else None
        self.w2 = _param(d, f, dtype=dtype)
        self.b2 = _param(d, dtype=dtype) if bias else None

    def forward(self, x):
        hidden = _linear(self, x, "w1", "b1")
        if self.act == "gelu":
            a = F.gelu(hidden)
        elif self.act == "gelu_tanh":
            a = F.gelu(hidden, approximate="tanh")
        else:
            a = F.relu(hidden)
        return _linear(self, a, "w2", "b2")


class Block(nn.Module):
    def __init__(self, spec: ModelSpec, layer: int, dtype):
        super().__init__()
        d = spec.d_model
        pre_ln = spec.norm == "pre_ln"
        self.norm1 = LayerNormP(d, dtype) if pre_ln else None
        self.mixer_name, make_mixer = MIXER_TWINS[spec.mixers[layer]]
        self.add_module(self.mixer_name, make_mixer(spec, layer, dtype))  # parameters blocks.<l>.<name>.*
        self.norm2 = LayerNormP(d, dtype) if pre_ln and spec.d_mlp > 0 else None
        self.mlp = Mlp(d, spec.d_mlp, spec.act, spec.bias, dtype) if spec.d_mlp > 0 else None

    def forward(self, x, gate=None):
        mixer = getattr(self, self.mixer_name)
        x = x + mixer(self.norm1(x) if self.norm1 is not None else x, gate)
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
            x = F.embedding(inputs, _table(self, "tok").t())
        else:
            x = getattr(self, "in")(inputs)
        t = x.shape[1]
        if self.pos_kind == "learned":
            x = x + _table(self, "pos").t()[:t]
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
        # LoRA adapters, keyed by their target's name with '.' as '__' (ModuleDict keys have no dots);
        # engine_named_parameters gives them the engine's names lora.<target>.a / .b.
        self.lora = nn.ModuleDict()
        if spec.lora_targets:
            scale = (spec.lora_alpha if spec.lora_alpha is not None else spec.lora_rank) / spec.lora_rank
            base = dict(self.named_parameters())
            targets = [n for n, p in base.items() if p.dim() == 2 and min(p.shape) >= 2
                       and any(glob_match(pat, n) for pat in spec.lora_targets)]
            for pat in spec.lora_targets:
                if not any(glob_match(pat, n) for n in targets):
                    raise ReferenceError(f"lora.targets: pattern {pat!r} matches no 2-D weight")
            for name in targets:
                owner_name, w = name.rsplit(".", 1)
                owner = self.get_submodule(owner_name)
                adapter = LoraAdapter(base[name].shape[0], base[name].shape[1], spec.lora_rank, scale, dtype)
                self.lora[name.replace(".", "__")] = adapter
                owner.__dict__.setdefault("_lora", {})[w] = adapter  # a plain dict: not a submodule

    def forward(self, inputs, scored, head_gates=None):
        """Outputs (S, C) at the flattened positions `scored` (indices b*T + t)."""
        x = self.embed(inputs)
        for l, block in enumerate(self.blocks):
            gate = None if head_gates is None else head_gates[l]
            if self.spec.head_mask and self.spec.head_mask[l]:  # model.head_mask: those heads' gates are 0
                mask = torch.ones(self.spec.heads[l], dtype=x.dtype, device=x.device)
                mask[self.spec.head_mask[l]] = 0
                gate = mask if gate is None else gate * mask
            x = block(x, gate)
        h = x.reshape(-1, x.shape[-1])[scored]                           # (S, D)
        if self.norm_f is not None:
            h = self.norm_f(h)
        return self.head(h)


def engine_named_parameters(model: Transformer):
    """(engine name, parameter) pairs: the module paths, with adapters as lora.<target>.a / .b."""
    for name, p in model.named_parameters():
        if name.startswith("lora."):
            key, leaf = name[len("lora."):].rsplit(".", 1)
            name = "lora." + key.replace("__", ".") + "." + leaf
        yield name, p


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
    N(0, 1/fan_in), embeddings N(0, 1); gpt2: N(0, 0.02^2) with wo and w2 scaled by 1/sqrt(2L);
    heads: fan_in but w2 N(0, 1/d_model) and positions N(0, 0.2^2). model.pos_std, when given,
    sets the positions'. Biases and LayerNorm beta zero, gamma one."""
    spec = model.spec
    gpt2 = spec.init == "gpt2"
    residual = 0.02 / math.sqrt(2.0 * spec.layers)
    pos_std = spec.pos_std if spec.pos_std is not None else 0.02 if gpt2 else 0.2 if spec.init == "heads" else 1.0
    for name, p in model.named_parameters():
        leaf = name.rsplit(".", 1)[-1]
        if leaf == "gamma":
            p.fill_(1.0)
            continue
        if p.dim() == 1:
            p.zero_()
            continue
        if name == "embed.tok":
            std = 0.02 if gpt2 else 1.0
        elif name == "embed.pos":
            std = pos_std
        elif leaf == "w2" and spec.init == "heads":
            std = 1.0 / math.sqrt(spec.d_model)
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
    ours = dict(engine_named_parameters(model))
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
# Speed benchmark (`bench`): the same model written for speed, float32.
#
# FastTransformer computes exactly the function of Transformer above (checked at start-up), with
# the parameters regrouped the way a researcher would write a fast PyTorch model: one fused QKV
# nn.Linear per block (weights and biases concatenated from wq/wk/wv), nn.LayerNorm, nn.GELU,
# nn.Embedding, the causal mask precomputed as a buffer and applied inside the score product
# (baddbmm with an additive -inf mask), F.cross_entropy.


class FastAttention(nn.Module):
    def __init__(self, d, n_heads, causal, bias, length, linear=False):
        super().__init__()
        self.n_heads, self.dh = n_heads, d // n_heads
        self.scale = 1.0 / math.sqrt(self.dh)
        self.qkv = nn.Linear(d, 3 * d, bias=bias)
        self.proj = nn.Linear(d, d, bias=bias)
        self.linear = linear
        if linear and causal:
            # Causal linear attention: weights = scores * scale / (q + 1) over the visible keys, 0
            # elsewhere: one (Tq, Tk) factor multiplied into the score product.
            seen = torch.arange(1, length + 1, dtype=torch.float32).view(length, 1)
            self.register_buffer("weight_scale", (self.scale / seen).expand(length, length).tril(),
                                 persistent=False)
            self.mask = None
            return
        self.weight_scale = None
        if linear:
            self.mask = None
        elif causal:
            mask = torch.full((length, length), float("-inf")).triu(1)      # (Tq, Tk)
            self.register_buffer("mask", mask, persistent=False)
        else:
            self.mask = None

    def forward(self, x):
        b, t, d = x.shape
        h, dh = self.n_heads, self.dh
        qkv = self.qkv(x).view(b, t, 3, h, dh).permute(2, 0, 3, 1, 4)       # (3, B, H, T, Dh)
        q = qkv[0].reshape(b * h, t, dh)
        k = qkv[1].reshape(b * h, t, dh)
        v = qkv[2].reshape(b * h, t, dh)
        if self.weight_scale is not None:
            weights = torch.bmm(q, k.transpose(1, 2)).mul_(self.weight_scale[:t, :t])
        elif self.linear:  # bidirectional: every query sees the t keys
            weights = torch.bmm(q, k.transpose(1, 2)).mul_(self.scale / t)
        elif self.mask is not None:
            weights = torch.softmax(torch.baddbmm(self.mask[:t, :t], q, k.transpose(1, 2), alpha=self.scale), dim=-1)
        else:
            weights = torch.softmax(torch.bmm(q, k.transpose(1, 2)).mul_(self.scale), dim=-1)
        o = torch.bmm(weights, v)                                             # (B*H, T, Dh)
        o = o.view(b, h, t, dh).transpose(1, 2).reshape(b, t, d)
        return self.proj(o)


class FastBlock(nn.Module):
    def __init__(self, spec: ModelSpec, layer: int):
        super().__init__()
        d, pre_ln = spec.d_model, spec.norm == "pre_ln"
        self.ln1 = nn.LayerNorm(d, eps=LN_EPS) if pre_ln else None
        self.attn = FastAttention(d, spec.heads[layer], spec.causal, spec.bias, spec.max_len,
                                  spec.attention == "linear")
        self.mlp = None
        if spec.d_mlp > 0:
            self.ln2 = nn.LayerNorm(d, eps=LN_EPS) if pre_ln else None
            act = {"gelu": nn.GELU(), "gelu_tanh": nn.GELU(approximate="tanh"),
                   "relu": nn.ReLU()}[spec.act]
            self.mlp = nn.Sequential(nn.Linear(d, spec.d_mlp, bias=spec.bias), act,
                                     nn.Linear(spec.d_mlp, d, bias=spec.bias))

    def forward(self, x):
        x = x + self.attn(self.ln1(x) if self.ln1 is not None else x)
        if self.mlp is not None:
            x = x + self.mlp(self.ln2(x) if self.ln2 is not None else x)
        return x


class FastTransformer(nn.Module):
    def __init__(self, spec: ModelSpec, scored: torch.Tensor, batch: int):
        super().__init__()
        if spec.pos == "sinusoidal":
            raise ReferenceError("bench: model.pos = sinusoidal is not implemented in FastTransformer")
        if any(m != "attention" for m in spec.mixers):
            raise ReferenceError(f"bench: FastTransformer has attention only (model.mixer = {','.join(spec.mixers)})")
        self.spec = spec
        d = spec.d_model
        if spec.input == "tokens":
            self.tok = nn.Embedding(spec.vocab, d)
        else:
            self.inp = nn.Linear(spec.d_in, d)
        self.pos = nn.Parameter(torch.zeros(spec.max_len, d)) if spec.pos == "learned" else None
        self.blocks = nn.ModuleList([FastBlock(spec, l) for l in range(spec.layers)])
        self.ln_f = nn.LayerNorm(d, eps=LN_EPS) if spec.norm == "pre_ln" else None
        self.head = nn.Linear(d, spec.n_classes)
        # Scored positions: all of them (no gather), the last of each example (a strided view), or
        # a general index list.
        n = batch * spec.max_len
        self.score_mode = "index"
        if scored.numel() == n and torch.equal(scored, torch.arange(n)):
            self.score_mode = "all"
        elif torch.equal(scored, torch.arange(batch) * spec.max_len + spec.max_len - 1):
            self.score_mode = "last"
        self.register_buffer("scored", scored.clone(), persistent=False)

    def forward(self, inputs):
        x = self.tok(inputs) if self.spec.input == "tokens" else self.inp(inputs)
        if self.pos is not None:
            x = x + self.pos[: x.shape[1]]
        for block in self.blocks:
            x = block(x)
        if self.score_mode == "all":
            h = x.reshape(-1, x.shape[-1])
        elif self.score_mode == "last":
            h = x[:, -1]
        else:
            h = x.reshape(-1, x.shape[-1]).index_select(0, self.scored)
        if self.ln_f is not None:
            h = self.ln_f(h)
        return self.head(h)

    def loss(self, inputs, targets):
        out = self(inputs)
        if self.spec.output == "classes":
            return F.cross_entropy(out, targets)
        return F.mse_loss(out.squeeze(-1), targets)


@torch.no_grad()
def load_fast_params(model: FastTransformer, params_group) -> None:
    """Copies the engine's /params/<name> into FastTransformer's regrouped parameters."""
    def get(name):
        if name not in params_group:
            raise ReferenceError(f"missing /params/{name}")
        return torch.from_numpy(read_engine_tensor(params_group[name])).float()

    def set_(dst, value):
        if tuple(dst.shape) != tuple(value.shape):
            raise ReferenceError(f"shape {tuple(value.shape)} does not fit {tuple(dst.shape)}")
        dst.copy_(value)

    used = set()

    def take(name):
        used.add(name)
        return get(name)

    spec = model.spec
    if spec.input == "tokens":
        set_(model.tok.weight, take("embed.tok").t())                          # (V, D)
    else:
        set_(model.inp.weight, take("embed.in.w"))
        set_(model.inp.bias, take("embed.in.b"))
    if model.pos is not None:
        set_(model.pos, take("embed.pos").t())                                 # (T, D)
    for l, block in enumerate(model.blocks):
        p = f"blocks.{l}."
        if block.ln1 is not None:
            set_(block.ln1.weight, take(p + "norm1.gamma"))
            set_(block.ln1.bias, take(p + "norm1.beta"))
        a = block.attn
        set_(a.qkv.weight, torch.cat([take(p + "attn.w" + c) for c in "qkv"], 0))
        set_(a.proj.weight, take(p + "attn.wo"))
        if spec.bias:
            set_(a.qkv.bias, torch.cat([take(p + "attn.b" + c) for c in "qkv"], 0))
            set_(a.proj.bias, take(p + "attn.bo"))
        if block.mlp is not None:
            if block.ln2 is not None:
                set_(block.ln2.weight, take(p + "norm2.gamma"))
                set_(block.ln2.bias, take(p + "norm2.beta"))
            set_(block.mlp[0].weight, take(p + "mlp.w1"))
            set_(block.mlp[2].weight, take(p + "mlp.w2"))
            if spec.bias:
                set_(block.mlp[0].bias, take(p + "mlp.b1"))
                set_(block.mlp[2].bias, take(p + "mlp.b2"))
    if model.ln_f is not None:
        set_(model.ln_f.weight, take("norm_f.gamma"))
        set_(model.ln_f.bias, take("norm_f.beta"))
    set_(model.head.weight, take("head.w"))
    set_(model.head.bias, take("head.b"))
    extra = sorted(set(params_group.keys()) - used)
    if extra:
        raise ReferenceError(f"bench: parameters not used by FastTransformer: {extra}")


def training_flops_per_step(spec: ModelSpec, batch: int, n_scored: int) -> float:
    """sim/models/transformer.h TrainingFlopsPerStep: 6 x (multiply-adds of every weight matrix
    per token it is applied to) + attention's two T x T products, 4·T²·Dh FLOPs per (example,
    head) forward and twice that backward. Embeddings, norms, softmax and AdamW are not counted."""
    n, d, t = batch * spec.max_len, spec.d_model, spec.max_len
    per_token_macs = d * spec.d_in if spec.input == "vectors" else 0.0
    per_token_macs += spec.layers * (4.0 * d * d + 2.0 * d * spec.d_mlp)
    readout_macs = d * spec.n_classes * n_scored
    attention = spec.layers * 12.0 * batch * t * t * d
    return 6.0 * (per_token_macs * n + readout_macs) + attention


def loaded_blas() -> str:
    """The BLAS library this process loaded (real path), with OpenBLAS's core name and threads."""
    path = None
    with open("/proc/self/maps") as maps:
        for line in maps:
            name = line.split()[-1] if len(line.split()) >= 6 else ""
            base = os.path.basename(name)
            if base.startswith(("libblas", "libopenblas", "libmkl_rt", "libblis")):
                path = os.path.realpath(name)
                if "openblas" in base or "mkl" in base or "blis" in base:
                    break
    if path is None:
        return "none found"
    if "openblas" in os.path.basename(path):
        import ctypes
        try:
            lib = ctypes.CDLL(path)
            lib.openblas_get_corename.restype = ctypes.c_char_p
            lib.openblas_get_config.restype = ctypes.c_char_p
            config = lib.openblas_get_config().decode().split()
            return (f"{path} ({' '.join(config[:2])}, core {lib.openblas_get_corename().decode()}, "
                    f"{lib.openblas_get_num_threads()} thread(s))")
        except (OSError, AttributeError):
            pass
    if "/blas/libblas.so" in path:
        return f"{path} (reference BLAS, netlib)"
    return path


def _vm_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _reset_peak_rss() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


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
    grads = {name: p.grad.detach().numpy().copy() for name, p in engine_named_parameters(model)}
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


def cmd_bench(args) -> int:
    import json
    import time

    setting = resolve_setting(args.threads, args.setting)
    conf = THREAD_SETTINGS[setting]
    for key, value in conf["env"].items():
        if os.environ.get(key) != value:
            raise ReferenceError(f"bench: {key} is {os.environ.get(key)!r}, setting {setting} needs "
                                 f"{value!r}: run torch_reference.py as a script, not imported")
    if args.seconds <= 0 or args.reps < 1:
        raise ReferenceError("bench: --seconds must be positive and --reps at least 1")
    torch.set_num_threads(conf["torch"])
    torch.autograd.set_detect_anomaly(False)
    name = args.name or os.path.splitext(os.path.basename(args.case))[0]

    rss_before = _vm_kb("VmRSS")
    _reset_peak_rss()
    with h5py.File(args.case, "r") as f:
        spec, batch = read_case(f, torch.float32)
        ini = parse_ini(str(_attr(f, "config")))
        n_batch = int(_attr(f, "B"))
        if "head_gates" in batch:
            raise ReferenceError("bench: head gates are not supported")
        if spec.lora_targets:
            raise ReferenceError("bench: LoRA (lora.targets) has no fast twin; parity only")
        if "params" not in f:
            raise ReferenceError(f"{args.case}: missing group /params")
        reference = build_model(spec, torch.float32)
        load_params(reference, f["params"])
        model = FastTransformer(spec, batch["scored"], n_batch)
        load_fast_params(model, f["params"])
    inputs, targets = batch["inputs"], batch["targets"]
    # The fast model must compute the reference model's function.
    with torch.no_grad():
        reference_loss = forward_loss(reference, batch).item()
        fast_loss = model.loss(inputs, targets).item()
    del reference
    if not abs(reference_loss - fast_loss) <= 1e-4 * max(1.0, abs(reference_loss)):
        raise ReferenceError(f"bench: FastTransformer's loss {fast_loss:.8g} differs from the "
                             f"reference model's {reference_loss:.8g}")

    clip = float(ini.get("train.clip", "1.0"))
    weight_decay = float(ini.get("train.weight_decay", "0"))
    betas = (float(ini.get("train.beta1", "0.9")), float(ini.get("train.beta2", "0.999")))
    eps = float(ini.get("train.eps", "1e-8"))
    params = list(model.parameters())
    # The engine decays matrices only (train.weight_decay); the default weight decay is 0.
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW(groups, lr=1e-4, betas=betas, eps=eps,
                                  foreach=args.foreach == "on")

    def step():
        loss = model.loss(inputs, targets)
        loss.backward()
        if clip > 0:
            torch.nn.utils.clip_grad_norm_(params, clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss

    clock = time.perf_counter
    start, warm = clock(), 0
    while warm < 3 or clock() - start < args.warmup:
        step()
        warm += 1
    rates, timed = [], 0
    for _ in range(args.reps):
        steps, start = 0, clock()
        while True:
            loss = step()
            steps += 1
            elapsed = clock() - start
            if elapsed >= args.seconds / args.reps:
                break
        rates.append(steps / elapsed)
        timed += steps
    if not math.isfinite(loss.item()):
        raise ReferenceError("bench: the loss became non-finite")
    rates.sort()
    sps = rates[len(rates) // 2]
    n_scored = int(batch["scored"].numel())
    gflop = training_flops_per_step(spec, n_batch, n_scored) / 1e9
    result = {
        "config": name, "threads": conf["threads"], "setting": setting,
        "steps_per_second": sps, "min_steps_per_second": rates[0],
        "max_steps_per_second": rates[-1], "tokens_per_second": sps * n_batch * spec.max_len,
        "gflop_per_step": gflop, "gflops": gflop * sps,
        "rss_bytes": max(0, _vm_kb("VmHWM") - rss_before) * 1024, "timed_steps": timed,
        "torch_threads": torch.get_num_threads(), "foreach": args.foreach == "on",
        "blas": loaded_blas(), "torch_version": torch.__version__,
        "malloc": "tuned" if MALLOC_TUNABLES in os.environ.get("GLIBC_TUNABLES", "") else "default",
        "initial_loss": fast_loss,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"PyTorch {torch.__version__}, setting {setting} (torch threads {conf['torch']}, "
              f"{', '.join(f'{k}={v}' for k, v in conf['env'].items() if v is not None)}), "
              f"malloc {result['malloc']}\nBLAS: {result['blas']}\n")
        print(f"{'config':<6} {'steps/s':>10} {'(min-max)':>16} {'tokens/s':>12} {'GFLOP/s':>10} "
              f"{'RSS MB':>8}")
        spread = f"({rates[0]:.4g}-{rates[-1]:.4g})"
        print(f"{name:<6} {sps:>10.4g} {spread:>16} {result['tokens_per_second']:>12.4g} "
              f"{result['gflops']:>10.1f} {result['rss_bytes'] / 1e6:>8.1f}")
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
    b = sub.add_parser("bench", help="training steps per second of a case file's model, float32")
    b.add_argument("case", help="case file written by `sim bench --export-dir DIR`")
    b.add_argument("--threads", type=int, choices=(1, 2),
                   help="cores to use: 1 (setting t1, the default) or 2 (setting t2)")
    b.add_argument("--setting", choices=tuple(THREAD_SETTINGS),
                   help="thread setting (t1; t2, t1blas2, t2passive for 2 cores)")
    b.add_argument("--seconds", type=float, default=3.0,
                   help="timed seconds after warm-up (default 3)")
    b.add_argument("--reps", type=int, default=5,
                   help="timing windows of seconds/reps each; the median is reported (default 5)")
    b.add_argument("--warmup", type=float, default=0.5,
                   help="warm-up seconds, at least 3 steps (default 0.5)")
    b.add_argument("--foreach", choices=("on", "off"), default="on",
                   help="AdamW's multi-tensor (foreach) implementation (default on)")
    b.add_argument("--malloc", choices=("tuned", "default"), default="tuned",
                   help="tuned (default): glibc malloc keeps freed memory (GLIBC_TUNABLES, see "
                   "MALLOC_TUNABLES), so steps do not re-fault their temporaries; default: as is")
    b.add_argument("--name", help="configuration name to report (default: the case file's stem)")
    b.add_argument("--json", action="store_true",
                   help="print one JSON object with sim bench --json's keys where they apply")
    b.set_defaults(func=cmd_bench)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ReferenceError, OSError, KeyError, ValueError) as e:
        print(f"torch_reference.py: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
