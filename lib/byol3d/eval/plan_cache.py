"""Neighbour plans of crop batches, kept from one evaluation (or frozen-feature pass) to the next.

A report evaluates dozens of predictors (arms x seeds x label fractions) on the same validation rooms,
cut into the same crops (byol3d.eval.predict). A crop batch's sampling, grouping and interpolation
indices (a NeighbourPlan) depend on its coordinates and the network's neighbour settings, never on the
weights, and on the CPU they are most of a frozen probe's evaluation. A PlanCache searches each crop
batch once and hands the same plan to every later predictor with the same neighbour settings, so the
predictions are exactly those computed without it.

It is keyed by the predictor's `plan_key()` and a digest of the batch's coordinates and offsets. It holds
at most `max_bytes` of plans and, once full, keeps what it has: evaluation visits the crops in the same
cycle every time, where dropping the oldest plan for a new one would miss on every crop.

The frozen probes' training crops are the same kind of repeat: the random-init and BYOL arms of one seed
cut the same crops and pick the same points, so their feature passes (byol3d.eval.features.FeaturePlanner)
and BatchNorm recalibrations can share one search the same way.
"""

from __future__ import annotations

import hashlib
from typing import Protocol


class Plan(Protocol):
    """A neighbour plan (NeighbourPlan, byol3d.eval.features.FeaturePlan): the cache only needs its size."""

    def nbytes(self) -> int: ...


class Planned(Protocol):
    """What searches plans: a predictor whose forward can take one (PointNeXt, FrozenProbeModel, MajorityClass)
    or a feature pass's planner (byol3d.eval.features.FeaturePlanner)."""

    def plan_key(self) -> tuple | None: ...  # None: takes no plan

    def plan(self, batch: dict) -> Plan | None: ...


def batch_digest(batch: dict) -> tuple:
    """Identity of an offset batch's geometry: device, shape and a hash of coord (N, 3) and offset (B,)."""
    coord, offset = batch["coord"], batch["offset"]
    digest = hashlib.blake2b(coord.detach().float().contiguous().cpu().numpy().tobytes(), digest_size=16)
    digest.update(offset.detach().long().cpu().numpy().tobytes())
    return str(coord.device), tuple(coord.shape), digest.hexdigest()


class PlanCache:
    """`plan(model, batch)`: `model.plan(batch)`, searched once per (plan_key, batch geometry)."""

    def __init__(self, max_bytes: int):
        if max_bytes < 0:
            raise ValueError(f"PlanCache: max_bytes must be >= 0, got {max_bytes}")
        self.max_bytes = max_bytes
        self.bytes = 0  # held by the cached plans
        self.hits = 0
        self.misses = 0
        self._plans: dict[tuple, Plan] = {}

    def __len__(self) -> int:
        return len(self._plans)

    def plan(self, model: Planned, batch: dict) -> Plan | None:
        """The plan `model(batch, plan)` needs; None for a model that takes none."""
        model_key = model.plan_key()
        if model_key is None:
            return None
        key = (model_key, batch_digest(batch))
        if key in self._plans:
            self.hits += 1
            return self._plans[key]
        self.misses += 1
        plan = model.plan(batch)
        size = plan.nbytes()
        if self.bytes + size <= self.max_bytes:
            self._plans[key] = plan
            self.bytes += size
        return plan

    def clear(self) -> None:
        """Drop every plan (and the hit / miss counts)."""
        self._plans.clear()
        self.bytes = self.hits = self.misses = 0
