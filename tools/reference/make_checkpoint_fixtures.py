#!/usr/bin/env python3
"""Small PyTorch checkpoints and pickles for the Swift checkpoint reader's tests.

Writes Tests/ConversionTests/Fixtures/:
  tensors.pt        torch.save of {"state": OrderedDict of tensors, "p": plain values}: float32,
                    float16, bfloat16, float64, int64 and bool tensors, a 0-d tensor, an empty one,
                    a transposed view, two views at offsets into one storage, a parameter
  tensors.json      each tensor's shape and row-major values as float32 (what `to(float32)` gives)
                    and the archive's prefix
  plain-p<N>.pkl    pickle.dumps(PLAIN, protocol=N) for N = 2, 4, 5 (protocol 4 and 5 add FRAME,
                    MEMOIZE, STACK_GLOBAL-free short strings)
  plain.json        PLAIN as json.dump(indent=2) writes it (tuples as lists, bytes as lists of ints)
  floats.json       [value, repr(value)] pairs: the float formatting config.json uses

    python3 tools/reference/make_checkpoint_fixtures.py
"""
import collections
import json
import os
import pickle

import torch

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(REPO, "Tests", "ConversionTests", "Fixtures")

PLAIN = {
    "ints": [0, 1, -1, 255, 256, 65535, 65536, -(2 ** 31), 2 ** 31, 2 ** 40, -(2 ** 63), 2 ** 63 - 1],
    "floats": [0.5, -0.0, 1e-05, 0.18215, 1e300],
    "text": ["", "ascii", "é ü 中文 😀", "x" * 300],
    "flags": [True, False, None],
    "tuple": (1, (2, 3), ()),
    "bytes": b"\x00\xffab",
    "nested": {"a": {"b": [1, {"c": "d"}]}},
    7: "an int key",
}
FLOATS = [0.0, -0.0, 1.0, -2.5, 0.5, 1e-05, 0.0001, 0.00085, 0.012, 0.18215, 123456.789, 1e15, 1e16,
          1.2345678901234568e17, 5e-324, 1.7976931348623157e308, 3.0e-7, 0.1 + 0.2, 1 / 3]


def jsonable(v):
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, bytes):
        return list(v)
    return v


def tensors():
    g = torch.Generator().manual_seed(0)
    base = torch.randn(4, 6, generator=g)
    shared = torch.arange(12, dtype=torch.float32)
    state = collections.OrderedDict()
    state["conv.weight"] = torch.randn(3, 2, 2, 2, generator=g)
    state["half"] = torch.randn(5, generator=g).half()
    state["bf16"] = torch.randn(2, 3, generator=g).bfloat16()
    state["double"] = torch.randn(3, generator=g).double()
    state["long"] = torch.tensor([-3, 0, 7, 2 ** 40])
    state["bool"] = torch.tensor([True, False, True])
    state["scalar"] = torch.tensor(2.5)
    state["empty"] = torch.zeros(0, 4)
    state["transposed"] = base.t()  # strides (1, 6)
    state["head"] = shared[2:6].view(2, 2)  # offset 2 into a storage it shares
    state["tail"] = shared[8:]  # offset 8, the same storage
    state["param"] = torch.nn.Parameter(torch.randn(2, generator=g))
    return state


def main(out=OUT):
    os.makedirs(out, exist_ok=True)
    state = tensors()
    torch.save({"state": state, "p": {"lr": 1e-4, "name": "fixture", "steps": [1, 2]}, "step": 3}, os.path.join(out, "tensors.pt"))
    expected = {name: {"shape": list(t.shape), "values": t.detach().float().flatten().tolist()} for name, t in state.items()}
    with open(os.path.join(out, "tensors.json"), "w") as f:
        json.dump({"prefix": "tensors", "tensors": expected}, f, indent=1)
    for protocol in (2, 4, 5):
        with open(os.path.join(out, f"plain-p{protocol}.pkl"), "wb") as f:
            f.write(pickle.dumps(PLAIN, protocol=protocol))
    with open(os.path.join(out, "plain.json"), "w") as f:
        json.dump(jsonable(PLAIN), f, indent=2)
    with open(os.path.join(out, "floats.json"), "w") as f:
        json.dump([[v, json.dumps(v)] for v in FLOATS], f, indent=1)


if __name__ == "__main__":
    main()
