"""Device selection shared by every backend: ``auto`` | ``cpu`` | ``cuda`` | ``cuda:N``."""

from __future__ import annotations

import re


def resolve_device(device: str = "auto") -> str:
    import torch

    device = (device or "auto").strip().lower()
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        return device
    if re.fullmatch(r"cuda(:\d+)?", device):
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} requested but CUDA is not available on this machine")
        index = int(device.split(":")[1]) if ":" in device else 0
        if index >= torch.cuda.device_count():
            raise ValueError(f"device {device!r} requested but only {torch.cuda.device_count()} CUDA device(s) exist")
        return device
    raise ValueError(f"unknown device {device!r}; expected auto, cpu, cuda or cuda:N")
