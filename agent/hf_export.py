"""An embedded GGUF model as a Hugging Face model folder (bf16 safetensors), for vLLM.

vLLM's CPU build cannot run llama.cpp's 4-bit GGUF kernels, so the weights are dequantized
once by transformers and saved with the tokenizer. This runs in vLLM's own virtual
environment (it needs transformers, accelerate and gguf, which Wardwise's does not), so it
imports only the standard library and ``agent.models`` at module level::

    ~/.cache/wardwise/vllm-venv/bin/python -m agent.hf_export --model qwen2.5-coder-0.5b

Idempotent: a folder whose stamp names the source file's pinned SHA-256 is left alone.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

from agent.models import MODELS, ModelSpec, model_path, pull

STAMP = ".wardwise-source-sha256"


def hf_dir(spec: ModelSpec, cache_dir: Path) -> Path:
    """Where the converted model of ``spec`` lives: ``<cache>/hf/<key>``."""
    return Path(cache_dir) / "hf" / spec.key


def is_exported(spec: ModelSpec, cache_dir: Path) -> bool:
    stamp = hf_dir(spec, cache_dir) / STAMP
    return stamp.exists() and stamp.read_text().strip() == spec.sha256


def export(spec: ModelSpec, cache_dir: Path, log=print) -> Path:
    """Dequantize the verified GGUF file of ``spec`` into ``hf_dir`` (bf16 safetensors).

    The GGUF file must already be assembled (`wardwise model pull --model KEY`).
    """
    out = hf_dir(spec, cache_dir)
    if is_exported(spec, cache_dir):
        return out
    gguf = model_path(spec, cache_dir)
    if not gguf.exists():
        raise FileNotFoundError(f"{gguf} is missing: run `wardwise model pull --model {spec.key}`")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    t0 = time.perf_counter()
    log(f"converting {gguf.name} to bf16 safetensors in {out} ...")
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    model = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=torch.bfloat16
    )
    # transformers dequantizes GGUF on load but still marks the model as GGUF-quantized
    # (and refuses to save it); the weights are plain bf16, so drop the marks.
    model.hf_quantizer = None
    for holder in (model.config, getattr(model.config, "text_config", None)):
        if holder is not None and hasattr(holder, "quantization_config"):
            delattr(holder, "quantization_config")
    model.save_pretrained(partial, safe_serialization=True)
    AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name).save_pretrained(partial)
    (partial / STAMP).write_text(spec.sha256)
    shutil.rmtree(out, ignore_errors=True)
    partial.rename(out)
    log(f"converted in {time.perf_counter() - t0:.0f} s")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="qwen2.5-coder-0.5b", choices=list(MODELS))
    default_cache = os.environ.get("WARDWISE_CACHE", Path.home() / ".cache" / "wardwise")
    p.add_argument("--cache", type=Path, default=default_cache)
    args = p.parse_args(argv)
    spec = MODELS[args.model]
    pull(spec, args.cache, log=lambda m: print(m, file=sys.stderr))
    print(export(spec, args.cache, log=lambda m: print(m, file=sys.stderr)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
