"""The one config tree (byol3d.profile) and the one run store (byol3d.run_store): presets defined once and
round-tripped through YAML, the sections each run reads, and folders refused unless they hold the run asked for."""

import dataclasses

import pytest
import torch

from byol3d.config import ConfigError, load_yaml, save_yaml
from byol3d.profile import Profile
from byol3d.run_store import MARKER, check_folder, checkpoint_sha256, identity_key, mark_folder, run_dir
from byol3d.utils.atomic import atomic_torch_save

SECTIONS = ("model", "data", "byol", "eval", "linear_probe", "finetune", "run")


@pytest.mark.parametrize("name", ["smoke", "quick", "full"])
def test_every_preset_is_one_tree_that_survives_yaml(name, tmp_path):
    profile = Profile.preset(name)
    assert [f.name for f in dataclasses.fields(profile)] == list(SECTIONS)
    save_yaml(profile, tmp_path / "p.yaml")
    assert load_yaml(Profile, tmp_path / "p.yaml") == profile


def test_the_model_follows_the_profile_voxel_and_copies_change_one_field():
    quick = Profile.quick()
    assert quick.model.radius == pytest.approx(Profile().model.for_voxel(quick.data.voxel_size).radius)
    assert quick.with_seed(2).run.seed == 2 and quick.with_seed(2).byol == quick.byol
    assert quick.on_device("cpu").run.device == "cpu" and quick.run.device == "auto"
    with pytest.raises(ConfigError, match="unknown preset 'medium'"):
        Profile.preset("medium")
    with pytest.raises(ConfigError, match="FinetuneConfig.warmup: must be in \\[0, steps\\)"):
        dataclasses.replace(quick.finetune, warmup=150)


def test_a_run_folder_is_named_by_its_identity(tmp_path):
    identity = {"config": {"lr": 0.001}, "data": "abc"}
    folder = run_dir(tmp_path, "probe", identity, prefix="linear-")
    assert folder == tmp_path / "probe" / f"linear-{identity_key(identity)}"
    assert run_dir(tmp_path, "pretrain", identity).parent == tmp_path / "byol"
    assert identity_key({**identity, "data": "abd"}) != identity_key(identity)
    assert identity_key(dict(reversed(list(identity.items())))) == identity_key(identity)  # key order free
    with pytest.raises(ValueError, match="unknown run kind 'eval'"):
        run_dir(tmp_path, "eval", identity)
    with pytest.raises(FileNotFoundError, match="missing.pt: checkpoint not found"):
        checkpoint_sha256(tmp_path / "missing.pt")


def test_equal_checkpoints_saved_apart_have_one_hash(tmp_path):
    """The probes' run keys hash the encoder file: two identical pre-trainings must give one key."""
    encoder = {"state_dict": {"w": torch.arange(12.0).reshape(3, 4)}, "meta": {"steps": 600}}
    first = atomic_torch_save(encoder, tmp_path / "a" / "encoder.pt")
    second = atomic_torch_save(encoder, tmp_path / "b" / "encoder.pt")
    assert checkpoint_sha256(first) == checkpoint_sha256(second)
    assert torch.equal(torch.load(second, weights_only=True)["state_dict"]["w"], encoder["state_dict"]["w"])
    encoder["state_dict"]["w"][0, 0] = 1.0
    assert checkpoint_sha256(atomic_torch_save(encoder, tmp_path / "c" / "encoder.pt")) != checkpoint_sha256(first)


def test_check_folder_accepts_only_its_own_runs(tmp_path):
    identity, other = {"run": 1}, {"run": 2}
    folder = tmp_path / "run"
    check_folder(folder, "pretrain", identity)  # absent: fine
    folder.mkdir()
    (folder / ".encoder.pt.x1.tmp").write_bytes(b"")  # only a killed write's leftover: still empty
    check_folder(folder, "pretrain", identity)
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="run: is not a byol3d run folder"):
        check_folder(folder, "pretrain", identity)
    mark_folder(folder, "probe", identity)
    with pytest.raises(ConfigError, match="run: is a probe run"):
        check_folder(folder, "pretrain", identity)
    mark_folder(folder, "pretrain", identity)
    check_folder(folder, "pretrain", identity)
    check_folder(folder, "pretrain")  # no identity asked: the kind is enough
    with pytest.raises(ConfigError, match="holds another run"):
        check_folder(folder, "pretrain", other)
    (folder / MARKER).write_text('{"kind": "pretrain"}')
    with pytest.raises(ConfigError, match="made by an older byol3d"):
        check_folder(folder, "pretrain", identity)
    with pytest.raises(ConfigError, match="is a file"):
        check_folder(folder / "notes.txt", "pretrain")
