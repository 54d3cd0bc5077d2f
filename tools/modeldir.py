"""Model directories (docs/model-directory.md): config.json and one safetensors file per module."""
import json
import os

import torch
from safetensors.torch import save_file


def write_model_dir(out, config, modules, dtype=torch.float32, sort_keys=False):
    """Writes `<name>.safetensors` for each (name, state_dict) in `modules` (tensors cast to
    `dtype`) and `config` as config.json (2-space indent, trailing newline)."""
    os.makedirs(out, exist_ok=True)
    for name, state in dict(modules).items():
        tensors = {k: v.detach().to(dtype).contiguous() for k, v in state.items()}
        save_file(tensors, os.path.join(out, f"{name}.safetensors"))
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=sort_keys)
        f.write("\n")
