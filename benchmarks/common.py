"""Small helpers shared by the benchmark scripts."""

from __future__ import annotations

import subprocess

import numpy as np


def cpu_model() -> str:
    """`lscpu`'s model name: every figure names the CPU it was measured on."""
    try:
        output = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    for line in output.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    """p50 / p95 / max of latencies in milliseconds, rounded for reports."""
    values = np.asarray(samples_ms)
    return {
        "p50_ms": round(float(np.percentile(values, 50)), 2),
        "p95_ms": round(float(np.percentile(values, 95)), 2),
        "max_ms": round(float(values.max()), 2),
    }
