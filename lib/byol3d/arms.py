"""The evaluation arms of the course, named once: from the probe run to the report's index.

An arm is what a headline number measures: a probe method (byol3d.probe) on a network that is either
chapter 03's BYOL encoder of the same seed or none. Three arms learn from labels on top of something
(the BYOL probe, BYOL fine-tune, scratch); three are the floors a learnt representation must clear
(a frozen random-init network, the raw input channels, the majority class). Chapters 04 and 05, the
run cache (byol3d.experiments) and the report index (byol3d.report) all read their names from here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Arm:
    name: str  # identifier: the report's headline key is miou_<name>, the label-efficiency column <name>
    method: str  # the byol3d.probe method that trains and scores it
    label: str  # how tables, charts and the report index name it
    pretrained: bool = False  # probes the BYOL encoder pre-trained with the same seed
    floor: bool = False  # a floor that every learnt representation must beat
    supervised: bool = False  # a whole network trained per run: the expensive arms


ARMS: dict[str, Arm] = {arm.name: arm for arm in (
    Arm("byol_linear", "linear", "BYOL encoder, linear probe", pretrained=True),
    Arm("random_linear", "random", "Random-init encoder, linear probe (floor)", floor=True),
    Arm("scratch", "scratch", "Supervised from scratch", supervised=True),
    Arm("byol_finetune", "finetune", "BYOL encoder, fine-tuned", pretrained=True, supervised=True),
    Arm("raw_linear", "raw", "Raw input channels, linear probe (floor)", floor=True),
    Arm("majority", "majority", "Majority class (floor)", floor=True),
)}
EFFICIENCY_ARMS = ("byol_linear", "byol_finetune", "random_linear", "scratch")  # chapter 04's label-efficiency grid


def get_arm(name: str) -> Arm:
    """The arm called `name`; ValueError listing the known ones otherwise."""
    if name not in ARMS:
        raise ValueError(f"unknown arm {name!r}; known: {list(ARMS)}")
    return ARMS[name]
