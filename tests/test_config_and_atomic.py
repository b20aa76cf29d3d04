"""The shared plumbing: typed YAML configs and atomic writes."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from byol3d.config import ConfigError, apply_overrides, config_hash, from_dict, load_yaml, save_yaml
from byol3d.utils.atomic import atomic_dir, atomic_write_json, atomic_write_text


@dataclasses.dataclass
class Inner:
    rate: float = 0.5
    mode: str = "a"


@dataclasses.dataclass
class Outer:
    steps: int = 10
    sizes: tuple[int, ...] = (1, 2)
    inner: Inner = dataclasses.field(default_factory=Inner)
    note: str | None = None


def test_yaml_round_trip(tmp_path):
    cfg = Outer(steps=3, sizes=(4, 5, 6), inner=Inner(rate=0.25, mode="b"), note="x")
    path = save_yaml(cfg, tmp_path / "cfg.yaml")
    assert load_yaml(Outer, path) == cfg
    assert config_hash(cfg) == config_hash(load_yaml(Outer, path))
    assert config_hash(cfg) != config_hash(Outer())


def test_int_accepted_for_float_field():
    assert from_dict(Outer, {"inner": {"rate": 1}}).inner.rate == 1.0


@pytest.mark.parametrize(
    "data, words",
    [
        ({"stepz": 3}, "unknown key"),
        ({"steps": "ten"}, "steps: expected int"),
        ({"steps": True}, "steps: expected int"),
        ({"sizes": 3}, "expected a list"),
        ({"inner": {"rate": "fast"}}, "rate: expected float"),
    ],
)
def test_bad_values_are_named(data, words):
    with pytest.raises(ConfigError, match=words):
        from_dict(Outer, data)


def test_bad_yaml_file_names_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps: [1,\n")
    with pytest.raises(ConfigError, match="bad.yaml"):
        load_yaml(Outer, bad)
    with pytest.raises(ConfigError, match="not found"):
        load_yaml(Outer, tmp_path / "missing.yaml")


def test_atomic_write_leaves_old_file_on_failure(tmp_path):
    target = atomic_write_text(tmp_path / "a.txt", "old")

    def explode(path: Path) -> None:
        path.write_text("half")
        raise RuntimeError("crash while writing")

    from byol3d.utils.atomic import atomic_write

    with pytest.raises(RuntimeError):
        atomic_write(target, explode)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]
    atomic_write_json(target, {"k": 1})
    assert target.read_text().strip().startswith("{")


def test_atomic_dir_replaces_whole_or_not_at_all(tmp_path):
    final = tmp_path / "scene"
    with atomic_dir(final) as tmp:
        (tmp / "x.npy").write_text("1")
    with pytest.raises(ValueError):
        with atomic_dir(final) as tmp:
            (tmp / "y.npy").write_text("2")
            raise ValueError("crash")
    assert sorted(p.name for p in final.iterdir()) == ["x.npy"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scene"]


def test_atomic_outputs_get_the_usual_modes(tmp_path):
    import os

    mask = os.umask(0o022)
    try:
        assert (atomic_write_text(tmp_path / "f.txt", "x").stat().st_mode & 0o777) == 0o644
        with atomic_dir(tmp_path / "d"):
            pass
        assert ((tmp_path / "d").stat().st_mode & 0o777) == 0o755
    finally:
        os.umask(mask)


def test_overrides_set_nested_fields_and_name_bad_ones():
    from byol3d.profile import Profile

    base = Profile.quick()
    cfg = apply_overrides(base, ["byol.tau_base=0.97", "data.view_shift=1.0", "byol.loss=region"])
    assert (cfg.byol.tau_base, cfg.data.view_shift, cfg.byol.loss) == (0.97, 1.0, "region")
    assert cfg.data.voxel_max == base.data.voxel_max and base.byol.tau_base is None  # the original is untouched
    for bad, message in (("data.nope=1", "'data.nope' is not a field"), ("byol.steps", "expected field=value"),
                         ("byol.steps=many", "steps: expected int"),
                         ("byol.loss.kind=x", "'byol.loss.kind' is not a field"),
                         ("finetune.pretrained_lr_scale=0", "pretrained_lr_scale: must be in \\(0, 1\\]")):
        with pytest.raises(ConfigError, match=message):
            apply_overrides(base, [bad])
