"""Small helpers shared by the benchmark scripts."""

from __future__ import annotations

import numpy as np


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    """p50 / p95 / max of latencies in milliseconds, rounded for reports."""
    values = np.asarray(samples_ms)
    return {
        "p50_ms": round(float(np.percentile(values, 50)), 2),
        "p95_ms": round(float(np.percentile(values, 95)), 2),
        "max_ms": round(float(values.max()), 2),
    }
