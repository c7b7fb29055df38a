"""Choosing a torch device by name, with a clear error where the hardware is missing."""

from __future__ import annotations

import os
import platform

import torch

from ferkit.errors import ConfigError


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """"auto" (or None) -> CUDA when available, else CPU; "cuda" without CUDA, or a value that is no device name,
    is a ConfigError, not a torch traceback."""
    if isinstance(device, torch.device):
        return device
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not isinstance(device, str):
        raise ConfigError(f"device must be a name such as 'cpu', 'cuda', 'cuda:N' or 'auto' (or a torch.device), got {type(device).__name__} {device!r}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} requested but CUDA is not available on this machine; use --device cpu")
    try:
        return torch.device(device)
    except RuntimeError:
        raise ConfigError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N") from None


def device_description(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({cpu_model()}, {torch.get_num_threads()} threads)"


# Widest vector unit first: the one a CPU's speed figures depend on most.
_VECTOR_FLAGS = (("amx_bf16", "AMX-BF16"), ("avx512_bf16", "AVX512-BF16"), ("avx512f", "AVX512"), ("avx2", "AVX2"))


def _cpuinfo(path: str = "/proc/cpuinfo") -> dict[str, str]:
    """The first processor's fields of /proc/cpuinfo ({} where there is none: not Linux)."""
    fields: dict[str, str] = {}
    try:
        with open(path) as handle:
            for line in handle:
                if not line.strip():
                    break
                key, _, value = line.partition(":")
                fields[key.strip()] = value.strip()
    except OSError:
        return {}
    return fields


def cpu_model(path: str = "/proc/cpuinfo") -> str:
    """The CPU as benchmark results name it, e.g. "AMD EPYC (family 25 model 1; AVX2)".

    Hosts that report the same model name can differ in generation and vector unit (a Zen 3 and a Zen 4 EPYC
    are both "AMD EPYC" to a virtual machine), and speed figures are comparable only within one of them.
    """
    info = _cpuinfo(path)
    name = info.get("model name") or platform.processor() or platform.machine()
    if not info:
        return name
    flags = set(info.get("flags", "").split())
    vector = next((label for flag, label in _VECTOR_FLAGS if flag in flags), "no AVX2")
    return f"{name} (family {info.get('cpu family', '?')} model {info.get('model', '?')}; {vector})"


def cpu_bf16_switched_off() -> bool:
    """``FERKIT_CPU_BF16=0`` in the environment: train in fp32 whatever the CPU."""
    return os.environ.get("FERKIT_CPU_BF16", "").strip() == "0"


def cpu_has_native_bf16(path: str = "/proc/cpuinfo") -> bool:
    """True where the CPU computes bf16 in hardware (AVX512-BF16 or AMX, e.g. AMD Zen 4, Intel Sapphire Rapids).

    Elsewhere bf16 autocast is emulated and much slower than fp32: 9-13x on an AVX2 Zen 3 host
    (benchmarks/results/cpu_training_speed.json). Linux only; other systems report False. ``FERKIT_CPU_BF16=0`` in
    the environment reports False anywhere: training then runs in fp32 (the test suite sets it, so that its seeded
    numbers do not depend on the host).
    """
    if cpu_bf16_switched_off():
        return False
    flags = set(_cpuinfo(path).get("flags", "").split())
    return "avx512_bf16" in flags or "amx_bf16" in flags
