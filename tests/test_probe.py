"""Segmentation probe on generated SynthRooms scenes: inverse-map scattering, frozen features stay frozen,
chunked features equal full ones, the same training scenes for every method, end-to-end runs that
write sane metrics.json files, and the saved predictor reloads."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from byol3d.config import ConfigError, load_yaml, save_yaml
from byol3d.data.cache import load_scene
from byol3d.data.dataset import DataConfig, EvalDataset, SegmentationDataset, collate_scenes
from byol3d.data.labels import IGNORE_INDEX, NUM_CLASSES, SCANNET20_NAMES
from byol3d.eval.features import collect_features, extract_features, feature_dim, freeze, sample_points
from byol3d.eval.finetune import train_segmentation
from byol3d.eval.linear import FrozenProbeModel, LinearProbe, train_linear
from byol3d.eval.predict import evaluate, scatter_to_vertices
from byol3d.models.config import PointNeXtConfig
from byol3d.models.pointnext import PointNeXt
from byol3d.probe import load_probe, main, probe_identity, run_probe, segmentation_schedule
from byol3d.profile import Profile, load_profile
from byol3d.utils.runtime import bf16_autocast, fast_bf16
from conftest import smoke_profile


def _tiny_cfg(*overrides: str) -> Profile:
    """The smoke preset made lighter still: a handful of steps, small crops, CPU."""
    return smoke_profile("linear_probe.points_per_scene=500", "linear_probe.steps=15", *overrides,
                         data=DataConfig(voxel_max=1500))


def _small_net() -> PointNeXt:
    torch.manual_seed(0)
    return PointNeXt(PointNeXtConfig(width=16))


def test_scatter_to_vertices_by_hand():
    pred = torch.tensor([4, 7, 9])
    inverse = torch.tensor([0, 0, 2, 1, 2, 2])
    assert scatter_to_vertices(pred, inverse).tolist() == [4, 4, 9, 7, 9, 9]
    with pytest.raises(ValueError, match="inverse map"):
        scatter_to_vertices(pred, torch.tensor([0, 3]))


def test_scatter_on_a_real_scene(synth_processed):
    item = EvalDataset(synth_processed, "val", DataConfig())[0]
    vertex = scatter_to_vertices(item["label"], item["inverse"])  # voxel labels back to every vertex
    assert vertex.shape == item["vertex_label"].shape
    # a kept vertex gets exactly its own label; the others their voxel's (mostly the same class)
    assert torch.equal(vertex[item["index"]], item["label"])
    assert (vertex == item["vertex_label"]).float().mean() > 0.9


def test_chunked_and_row_features_equal_full_features(synth_processed, one_thread):
    net = freeze(_small_net())
    batch = collate_scenes([SegmentationDataset(synth_processed, "train", DataConfig(voxel_max=3000),
                                                train=True)[0]])
    full = extract_features(net, batch, "both")
    assert full.shape == (len(batch["coord"]), feature_dim(net, "both")) and not full.requires_grad
    torch.testing.assert_close(extract_features(net, batch, "both", chunk=700), full)
    rows = torch.tensor([0, 5, 17, 1000, len(full) - 1])
    hyper = sum(net.encoder_channels)
    torch.testing.assert_close(extract_features(net, batch, "hypercolumn", rows), full[rows, :hyper])
    torch.testing.assert_close(extract_features(net, batch, "decoder", rows), full[rows, -net.decoder_channels:])


def test_batched_feature_cache_equals_one_scene_passes(synth_processed, one_thread):
    """The probe's feature cache computed several crops per pass holds the same points, with the same
    features, as one crop per pass: batching is only a speed-up."""
    net = freeze(_small_net())
    train_set = SegmentationDataset(synth_processed, "train", DataConfig(voxel_max=1500), train=True)
    assert len(train_set) >= 3  # batches of 2 scenes then include a short last batch
    single = collect_features(net, train_set, "both", torch.device("cpu"), points_per_scene=200, seed=3)
    batched = collect_features(net, train_set, "both", torch.device("cpu"), points_per_scene=200, seed=3,
                               scenes_per_batch=2)
    assert torch.equal(batched[1], single[1])
    torch.testing.assert_close(batched[0], single[0], atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="scenes_per_batch"):
        collect_features(net, train_set, "both", torch.device("cpu"), points_per_scene=200, scenes_per_batch=0)


def test_standardize_statistics_match_torch():
    """The chunked column std of fit_normalization equals torch's; constant columns and a single row keep
    std 1, so nothing is divided by zero."""
    torch.manual_seed(0)
    feats = 5.0 + 3.0 * torch.randn(70_000, 6)  # more rows than one chunk
    feats[:, 2] = 4.0  # a constant feature
    probe = LinearProbe(6, NUM_CLASSES, "standardize")
    probe.fit_normalization(feats)
    torch.testing.assert_close(probe.mean, feats.mean(dim=0))
    expected = feats.double().std(dim=0).float()
    expected[2] = 1.0
    torch.testing.assert_close(probe.std, expected, atol=1e-6, rtol=1e-5)
    probe.fit_normalization(feats[:1])
    assert torch.equal(probe.std, torch.ones(6))


def test_frozen_means_frozen(synth_processed, one_thread):
    net = freeze(_small_net())
    before = {k: v.clone() for k, v in net.state_dict().items()}  # weights and BatchNorm statistics
    data = DataConfig(voxel_max=1500)
    train_set = SegmentationDataset(synth_processed, "train", data, train=True)
    feats, labels = collect_features(net, train_set, "both", torch.device("cpu"), points_per_scene=300)
    probe = LinearProbe(feature_dim(net, "both"), NUM_CLASSES, "standardize")
    losses = train_linear(probe, feats, labels, steps=20, lr=1e-2, weight_decay=0.0, batch_points=512, seed=0)
    assert losses[-1] < losses[0]
    model = FrozenProbeModel(net, probe, "both")
    model.train()  # must not unfreeze the backbone's BatchNorm
    assert not net.training and probe.training
    model.eval()
    evaluate(model, EvalDataset(synth_processed, "val", data, fraction=0.01), torch.device("cpu"))
    assert all(not p.requires_grad for p in net.parameters())
    for key, value in net.state_dict().items():
        assert torch.equal(value, before[key]), f"{key} changed while frozen"
    with pytest.raises(ValueError, match="training mode"):
        extract_features(_small_net().train(), collate_scenes([train_set[0]]), "both")


@pytest.mark.parametrize("normalize", ["standardize", "l2", "none"])
def test_normalized_is_what_the_layer_sees(normalize):
    torch.manual_seed(0)
    feats = 5.0 + torch.randn(500, 32)
    probe = LinearProbe(32, NUM_CLASSES, normalize)
    probe.fit_normalization(feats)
    torch.testing.assert_close(probe(feats), probe.linear(probe.normalized(feats)), atol=1e-4, rtol=1e-4)


def test_bf16_linear_training_follows_float32():
    """The bf16 steps (normalised cache and weights in bfloat16, float32 updates) learn what float32 steps learn,
    from the same seed and mini-batches: the same loss curve within bf16 rounding, the same predictions."""
    torch.manual_seed(0)
    feats = 10.0 + 3.0 * torch.randn(20_000, 48)  # far from zero: bf16 must see the standardised values
    labels = (feats @ torch.randn(48, NUM_CLASSES) + 4.0 * torch.randn(20_000, NUM_CLASSES)).argmax(dim=1)
    labels[::7] = IGNORE_INDEX  # unlabelled points are left out of both
    probes, curves = [], []
    for bf16 in (False, True):
        torch.manual_seed(1)
        probe = LinearProbe(48, NUM_CLASSES, "standardize")
        curves.append(train_linear(probe, feats, labels, steps=150, lr=1e-2, weight_decay=0.0, batch_points=1024,
                                   seed=0, bf16=bf16))
        probes.append(probe)
    assert curves[0][-1] < 0.5 * curves[0][0]  # it learns
    assert max(abs(a - b) for a, b in zip(*curves)) < 0.02 * curves[0][0]
    with torch.no_grad():
        same = (probes[0](feats).argmax(1) == probes[1](feats).argmax(1)).float().mean()
    assert same > 0.97 and probes[1].linear.weight.dtype == torch.float32


def test_standardized_probe_is_the_linear_layer_of_standardized_features():
    """The shift and scale folded into the weights give W (x - mean) / std + b, also under bf16
    autocast, where features far from zero would lose their signal if the fold ran in bfloat16."""
    torch.manual_seed(0)
    feats = 20.0 + 2.0 * torch.randn(2000, 64)  # mean 10 spreads from zero: the fold must not cancel badly
    probe = LinearProbe(64, NUM_CLASSES, "standardize")
    probe.fit_normalization(feats)
    expected = probe.linear((feats - probe.mean) / probe.std)
    torch.testing.assert_close(probe(feats), expected, atol=1e-4, rtol=1e-4)
    rounded = feats.bfloat16()  # what a network under autocast hands the probe
    expected = probe.linear((rounded.float() - probe.mean) / probe.std)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        torch.testing.assert_close(probe(rounded), expected, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("kind", ["hypercolumn", "both"])
def test_frozen_probe_projects_stages_before_interpolating_exactly(synth_processed, kind):
    """FrozenProbeModel maps each stage to class scores before the 3-NN interpolation: the same logits
    as the probe applied to the full hypercolumn."""
    net = freeze(_small_net())
    batch = collate_scenes([SegmentationDataset(synth_processed, "train", DataConfig(voxel_max=1500), train=True)[0]])
    feats = extract_features(net, batch, kind)
    probe = LinearProbe(feats.shape[1], NUM_CLASSES, "standardize")
    probe.fit_normalization(feats)
    torch.nn.init.normal_(probe.linear.weight)
    model = FrozenProbeModel(net, probe, kind).eval()
    torch.testing.assert_close(model(batch), probe(feats), atol=1e-3, rtol=1e-4)  # logits ~30: float32 sums


def test_balanced_sampling():
    labels = np.array([0] * 1000 + [3] * 10 + [-1] * 50)
    rows = sample_points(labels, 20, balanced=True, rng=np.random.default_rng(0))
    assert np.bincount(labels[rows], minlength=4)[[0, 3]].tolist() == [10, 10]
    rows = sample_points(labels, 500, balanced=False, rng=np.random.default_rng(0))
    assert len(rows) == 500 and (labels[rows] >= 0).all()


def test_config_presets_yaml_and_errors(tmp_path):
    for name in ("smoke", "quick", "full"):
        cfg = load_profile(name)
        save_yaml(cfg, tmp_path / f"{name}.yaml")
        assert load_yaml(Profile, tmp_path / f"{name}.yaml") == cfg
    (tmp_path / "bad.yaml").write_text("linear_probe:\n  features: everything\n")
    with pytest.raises(ConfigError, match="bad.yaml.*LinearProbeConfig.features"):
        load_profile(str(tmp_path / "bad.yaml"))
    with pytest.raises(ConfigError, match="needs --checkpoint"):
        run_probe(_tiny_cfg(), tmp_path, "linear", tmp_path / "out")
    with pytest.raises(ConfigError, match="drop --checkpoint"):
        run_probe(_tiny_cfg(), tmp_path, "scratch", tmp_path / "out", checkpoint=tmp_path / "encoder.pt")


def _assert_probe_events(metrics: dict, scalars: dict) -> None:
    """The probe run's TensorBoard scalars: the training loss of every step, then the end-of-run numbers
    at the last step, as metrics.json holds them (stored as float32)."""
    method, losses = metrics["method"], metrics["train_loss"]
    assert scalars[f"probe/{method}/train_loss"] == [(i, float(np.float32(v))) for i, v in enumerate(losses, 1)]
    final = {"val_miou": "miou", "val_macc": "macc", "val_oa": "oa"}
    if "train_accuracy" in metrics:
        final["train_accuracy"] = "train_accuracy"
    assert sorted(scalars) == sorted(f"probe/{method}/{tag}" for tag in ["train_loss", *final])
    for tag, key in final.items():
        assert scalars[f"probe/{method}/{tag}"] == [(len(losses), float(np.float32(metrics[key])))], tag


def _labelled_vertices(root, split: str, scene_ids: list[str]) -> int:
    return sum(int((load_scene(root / split / s)["segment20"] >= 0).sum()) for s in scene_ids)


@pytest.mark.slow
def test_random_and_scratch_end_to_end(synth_processed, tmp_path, one_thread, event_scalars):
    """CLI run of the random probe, run_probe of scratch: same training scenes, sane metrics, reloadable."""
    cfg_path = tmp_path / "tiny.yaml"
    save_yaml(_tiny_cfg(), cfg_path)
    out = tmp_path / "random"
    main(["--data", str(synth_processed), "--method", "random", "--fraction", "0.5", "--config", str(cfg_path),
          "--out", str(out)])
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0 <= metrics["miou"] <= 1 and 0 <= metrics["macc"] <= 1 and 0 <= metrics["oa"] <= 1
    assert list(metrics["per_class_iou"]) == list(SCANNET20_NAMES)
    confusion = np.array(metrics["confusion"])
    assert confusion.shape == (NUM_CLASSES, NUM_CLASSES)
    assert confusion.sum() == _labelled_vertices(synth_processed, "val", metrics["eval_scenes"])
    assert metrics["method"] == "random" and metrics["fraction"] == 0.5 and len(metrics["train_scenes"]) == 2
    _assert_probe_events(metrics, event_scalars(out))
    # the saved predictor reproduces the evaluation exactly (same precision: the probe's bf16 autocast)
    eval_set = EvalDataset(synth_processed, "val", _tiny_cfg().data, fraction=_tiny_cfg().eval.eval_fraction)
    with bf16_autocast(torch.device("cpu"), _tiny_cfg().run.amp):
        np.testing.assert_array_equal(evaluate(load_probe(out), eval_set, torch.device("cpu")), confusion)

    scratch = run_probe(_tiny_cfg("finetune.steps=1"), synth_processed, "scratch", tmp_path / "scratch",
                        fraction=0.5)
    # what precision ran is recorded: bf16 when asked and the CPU has it, float32 otherwise
    assert _tiny_cfg().run.amp and metrics["bf16"] is scratch["bf16"] is fast_bf16(torch.device("cpu"))
    assert scratch["train_scenes"] == metrics["train_scenes"]  # the same subset for every method
    assert 0 <= scratch["miou"] <= 1 and np.array(scratch["confusion"]).sum() == confusion.sum()
    assert isinstance(load_probe(tmp_path / "scratch"), PointNeXt)
    _assert_probe_events(scratch, event_scalars(tmp_path / "scratch"))


@pytest.mark.slow
def test_linear_and_finetune_from_a_byol_checkpoint(synth_processed, tmp_path, one_thread):
    from byol3d.pretrain import run_pretrain

    pre = smoke_profile("byol.steps=2", data=DataConfig(voxel_max=1000))
    encoder = run_pretrain(pre, synth_processed, tmp_path / "byol") / "encoder.pt"
    linear = run_probe(_tiny_cfg(), synth_processed, "linear", tmp_path / "linear", checkpoint=encoder)
    assert 0 <= linear["miou"] <= 1 and linear["checkpoint"] == str(encoder)
    assert linear["train_loss"][-1] < linear["train_loss"][0]
    # the frozen backbone inside the saved probe has the pre-trained weights, untouched; only its BatchNorm
    # statistics were re-estimated on the probe's training crops (recalibrate_bn), as for the random arm
    pretrained = torch.load(encoder, weights_only=True)["state_dict"]
    backbone = load_probe(tmp_path / "linear").backbone
    weights = dict(backbone.named_parameters())
    assert all(torch.equal(weights[k], v) for k, v in pretrained.items() if k in weights)
    stats = backbone.state_dict()
    assert any(not torch.equal(stats[k], v) for k, v in pretrained.items() if k.endswith("running_mean"))

    finetune = run_probe(_tiny_cfg("finetune.steps=1", "run.amp=false", "model.head_dropout=0.1"), synth_processed,
                         "finetune", tmp_path / "ft", checkpoint=encoder)
    assert 0 <= finetune["miou"] <= 1 and (tmp_path / "ft" / "probe.pt").is_file()
    # the architecture is the checkpoint's; the fresh head's dropout is the fine-tuning profile's
    assert torch.load(encoder, weights_only=True)["config"]["head_dropout"] == pre.model.head_dropout != 0.1
    assert finetune["model"]["head_dropout"] == 0.1 and load_probe(tmp_path / "ft").head.dropout.p == 0.1
    assert finetune["bf16"] is False  # not asked for
    assert torch.load(encoder, weights_only=True)["meta"]["bf16"] is (pre.run.amp and fast_bf16(torch.device("cpu")))


def test_sparse_labels_reach_the_probe_and_its_identity(synth_processed, tmp_path, one_thread):
    """--labelled-voxels: the majority arm counts only the kept labels; the run key changes with the count,
    and runs with every vertex labelled keep the identity they had before the option existed."""
    cfg = _tiny_cfg()
    full = probe_identity(cfg, synth_processed, "majority")
    assert "labelled_voxels" not in full
    assert probe_identity(cfg, synth_processed, "majority", labelled_voxels=3) == {**full, "labelled_voxels": 3}
    metrics = main(["--data", str(synth_processed), "--method", "majority", "--labelled-voxels", "3",
                    "--config", str(save_yaml(cfg, tmp_path / "tiny.yaml")), "--out", str(tmp_path / "sparse")])
    sparse = SegmentationDataset(synth_processed, "train", cfg.data, train=True, labelled_voxels=3)
    labels = np.concatenate([sparse.load(i)[2] for i in range(len(sparse))])
    counts = np.bincount(labels[labels >= 0], minlength=NUM_CLASSES)
    assert metrics["labelled_voxels"] == 3
    predicted = np.array(metrics["confusion"]).sum(axis=0)  # every vertex gets the majority class
    assert predicted[counts.argmax()] == predicted.sum()


def test_pretrained_layers_train_at_their_scaled_rate(synth_processed, one_thread):
    """finetune.pretrained_lr_scale: after one AdamW step (an update proportional to the learning rate)
    the pre-trained layers move `scale` times as far as at full rate, the new head as far; scratch
    ignores the scale."""
    profile = _tiny_cfg("finetune.steps=1", "finetune.warmup=0", "finetune.pretrained_lr_scale=0.25")
    dataset = SegmentationDataset(synth_processed, "train", profile.data, train=True, seed=0)
    start = _small_net().state_dict()

    def moved(pretrained: bool) -> tuple[float, float]:
        """max |change| of the body's and of the head's weights after one step from `start`."""
        net = _small_net()
        torch.manual_seed(0)  # the head's dropout draws
        train_segmentation(net, dataset, segmentation_schedule(profile, pretrained), torch.device("cpu"))
        after = net.state_dict()
        change = {k: (after[k] - start[k]).abs().max().item() for k, _ in net.named_parameters()}
        return (max(v for k, v in change.items() if not k.startswith("head.")),
                max(v for k, v in change.items() if k.startswith("head.")))

    (body, head), (body_full, head_full) = moved(pretrained=True), moved(pretrained=False)
    assert segmentation_schedule(profile, pretrained=False).body_lr_scale == 1.0
    assert body_full > 0 and body == pytest.approx(0.25 * body_full, rel=1e-3)
    assert head == pytest.approx(head_full, rel=1e-3)
