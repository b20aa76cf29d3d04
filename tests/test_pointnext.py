"""PointNeXt (byol3d.models): parameter counts of the paper's presets, shapes, permutation
equivariance, batching independence, gradient flow and an overfit run, on generated scenes."""

from __future__ import annotations

import copy
import dataclasses
import math

import numpy as np
import pytest
import torch

from byol3d.config import load_yaml, save_yaml
from byol3d.config import ConfigError
from byol3d.models import EncoderOutput, PointNeXt, PointNeXtConfig
from byol3d.models.blocks import Dropout, max_over_neighbours, norm_relu_max

# Official PointNeXt ScanNet models, 7 input channels, 20 classes (Qian et al., NeurIPS 2022).
OFFICIAL_PARAMS_M = {"S": 0.71, "B": 3.83, "L": 7.13, "XL": 41.59}


def room_scene(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A small generated room: floor, two walls, a box and a ball, with jittered surface samples.

    Returns coord (n, 3) float32 metres, color (n, 3) uint8 (random: labels follow from geometry
    only), label (n,) int64 ScanNet20 indices (wall 0, floor 1, cabinet 2, chair 4).
    """
    rng = np.random.default_rng(seed)
    parts = []
    k = n // 5
    u = rng.uniform(0, 1, (n, 2))
    parts.append((np.c_[u[:k] * 1.2, np.zeros(k)], 1))  # floor z = 0
    parts.append((np.c_[u[k : 2 * k, 0] * 1.2, np.zeros(k), u[k : 2 * k, 1] * 0.8], 0))  # wall y = 0
    parts.append((np.c_[np.zeros(k), u[2 * k : 3 * k, 0] * 1.2, u[2 * k : 3 * k, 1] * 0.8], 0))  # wall x = 0
    top = np.c_[0.6 + u[3 * k : 4 * k] * 0.3, np.full(k, 0.3)]  # box top at z = 0.3
    parts.append((top, 2))
    m = n - 4 * k
    d = rng.normal(size=(m, 3))
    ball = d / np.linalg.norm(d, axis=1, keepdims=True) * 0.15 + [0.35, 0.8, 0.15]
    parts.append((ball, 4))
    coord = np.concatenate([p for p, _ in parts]) + rng.normal(0, 0.003, (n, 3))
    label = np.concatenate([np.full(len(p), c) for p, c in parts])
    color = rng.integers(0, 256, (n, 3))
    return coord.astype(np.float32), color.astype(np.uint8), label.astype(np.int64)


def make_batch(scenes: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> dict:
    """Offset batch with the 7 PointNeXt features: xyz, rgb in [0, 1], height above the scene floor."""
    coord = torch.from_numpy(np.concatenate([c for c, _, _ in scenes]))
    color = torch.from_numpy(np.concatenate([c for _, c, _ in scenes])).float() / 255.0
    height = torch.cat([torch.from_numpy(c[:, 2] - c[:, 2].min()) for c, _, _ in scenes])[:, None]
    offset = torch.tensor([len(c) for c, _, _ in scenes]).cumsum(0)
    label = torch.from_numpy(np.concatenate([lab for _, _, lab in scenes]))
    return {"coord": coord, "feat": torch.cat([coord, color, height], 1), "offset": offset, "label": label}


def tiny_config() -> PointNeXtConfig:
    """Narrow model with InvResMLP blocks in every stage (stage 0 included) and 2-layer SAs."""
    return PointNeXtConfig(width=8, blocks=(2, 2, 2, 2, 2), sa_layers=2)


def warm_batchnorm(model: PointNeXt, batch: dict, passes: int = 3) -> None:
    """Train-mode passes without gradients, then eval mode: BatchNorm running statistics move toward
    the batch's own (momentum 0.1 per pass), so eval outputs are not the identity normalisation."""
    model.train()
    with torch.no_grad():
        for _ in range(passes):
            model(batch)
    model.eval()


@pytest.mark.parametrize("name", list(OFFICIAL_PARAMS_M))
def test_parameter_count_matches_official(name):
    model = PointNeXt(PointNeXtConfig.preset(name))
    count = sum(p.numel() for p in model.parameters())
    assert abs(count / 1e6 / OFFICIAL_PARAMS_M[name] - 1) < 0.01, (name, count)


def test_config_yaml_round_trip_and_errors(tmp_path):
    cfg = PointNeXtConfig.B()
    loaded = load_yaml(PointNeXtConfig, save_yaml(cfg, tmp_path / "model.yaml"))
    assert loaded == cfg and loaded.blocks == (1, 2, 3, 2, 2)
    assert cfg.stage_radii()[1] == pytest.approx((0.05, 0.1)) and cfg.stage_radii()[4] == pytest.approx((0.4, 0.8))
    with pytest.raises(ConfigError, match="PointNeXtConfig.strides: must be 1"):
        PointNeXtConfig(strides=(4, 4, 4, 4, 4))
    with pytest.raises(ConfigError, match="PointNeXtConfig.width: must be an int >= 1, got 0"):
        PointNeXtConfig(width=0)
    with pytest.raises(ConfigError, match="PointNeXtConfig.radius: must be a finite number"):
        PointNeXtConfig(radius=float("nan"))
    with pytest.raises(ConfigError, match="preset"):
        PointNeXtConfig.preset("XXL")


def test_output_shapes_per_stage():
    torch.manual_seed(0)
    model = PointNeXt(PointNeXtConfig.S()).eval()
    sizes = [700, 1300]
    batch = make_batch([room_scene(n, seed) for seed, n in enumerate(sizes)])
    with torch.no_grad():
        enc = model.encode(batch)
        assert isinstance(enc, EncoderOutput) and len(enc.feats) == 5
        for s, (xyz, off, f) in enumerate(zip(enc.coords, enc.offsets, enc.feats)):
            expected = [max(1, n // 4**s) for n in sizes]  # stride 4 per stage, floor, >= 1
            assert off.tolist() == np.cumsum(expected).tolist()
            assert xyz.shape == (sum(expected), 3) and f.shape == (sum(expected), model.encoder_channels[s])
        assert model.decode(enc).shape == (2000, model.decoder_channels)
        assert model.hypercolumn(enc).shape == (2000, sum(model.encoder_channels))
        assert model(batch).shape == (2000, 20)
    with pytest.raises(ValueError, match="PointNeXt input.*feat"):
        model({**batch, "feat": batch["feat"][:, :6]})


def test_eval_outputs_are_permutation_equivariant():
    """FPS starts at each scene's first point, so the permutation keeps that point first; everything
    else (ball query = nearest-k in radius, max pooling, 3-NN) does not depend on point order."""
    torch.manual_seed(0)
    model = PointNeXt(tiny_config())
    batch = make_batch([room_scene(900, 1)])
    warm_batchnorm(model, batch)
    perm = torch.cat([torch.zeros(1, dtype=torch.long), 1 + torch.randperm(899)])
    shuffled = {k: batch[k][perm] for k in ("coord", "feat")} | {"offset": batch["offset"]}
    with torch.no_grad():
        enc, enc_p = model.encode(batch), model.encode(shuffled)
        torch.testing.assert_close(model(shuffled), model(batch)[perm], atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(model.hypercolumn(enc_p), model.hypercolumn(enc)[perm], atol=1e-4, rtol=1e-4)


def test_scene_output_does_not_depend_on_batch_mates():
    torch.manual_seed(0)
    model = PointNeXt(tiny_config())
    scenes = [room_scene(500, 2), room_scene(800, 3), room_scene(300, 4)]
    batch = make_batch(scenes)
    warm_batchnorm(model, batch)
    with torch.no_grad():
        alone = model(make_batch(scenes[1:2]))
        together = model(batch)[500:1300]
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-5)


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    model = PointNeXt(tiny_config()).train()
    batch = make_batch([room_scene(600, 5), room_scene(400, 6)])
    loss = torch.nn.functional.cross_entropy(model(batch), batch["label"])
    loss.backward()
    silent = [name for name, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not silent, f"parameters without gradient: {silent}"


def test_cpu_and_torch_backends_agree_and_reset_head():
    torch.manual_seed(0)
    model = PointNeXt(tiny_config())
    batch = make_batch([room_scene(700, 7), room_scene(500, 8)])
    warm_batchnorm(model, batch)
    with torch.no_grad():
        model.ops_backend = "cpu"
        cpu_logits = model(batch)
        model.ops_backend = "torch"
        torch.testing.assert_close(model(batch), cpu_logits, atol=1e-4, rtol=1e-4)
    encoder_before = model.stages[1].entry.aggregate.layers[0].linear.weight.clone()
    head_before = model.head.classify.weight.clone()
    model.reset_head()
    assert not torch.equal(model.head.classify.weight, head_before)
    assert torch.equal(model.stages[1].entry.aggregate.layers[0].linear.weight, encoder_before)
    assert model.head.dropout.p == model.cfg.head_dropout == 0.5  # unchanged unless asked
    model.reset_head(dropout=0.0)
    assert model.head.dropout.p == model.cfg.head_dropout == 0.0
    with pytest.raises(ValueError, match="dropout probability"):
        model.reset_head(dropout=1.0)


@pytest.mark.slow
def test_pointnext_s_overfits_a_tiny_scene():
    torch.manual_seed(0)
    model = PointNeXt(PointNeXtConfig.S()).train()
    batch = make_batch([room_scene(2000, 9)])
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(60):
        loss = torch.nn.functional.cross_entropy(model(batch), batch["label"])
        opt.zero_grad()
        loss.backward()
        opt.step()
    warm_batchnorm(model, batch, passes=10)  # running statistics of the final weights, then eval
    with torch.no_grad():
        accuracy = (model(batch).argmax(1) == batch["label"]).float().mean().item()
    assert math.isfinite(loss.item()) and accuracy > 0.95, (loss.item(), accuracy)


def test_dropout_zeroes_a_share_p_and_keeps_the_mean():
    torch.manual_seed(0)
    x = torch.ones(200_000)
    drop = Dropout(0.3).train()
    y = drop(x)
    assert abs(float((y == 0).float().mean()) - 0.3) < 0.01  # zeroed with probability p
    assert abs(float(y.mean()) - 1.0) < 0.01  # survivors scaled by 1 / (1 - p)
    assert torch.equal(drop.eval()(x), x)  # identity at evaluation
    with pytest.raises(ValueError, match="dropout probability"):
        Dropout(1.0)


def test_max_over_neighbours_is_exact_without_gradient_and_sends_it_to_one_neighbour():
    torch.manual_seed(0)
    h = torch.randn(50, 8, 6).bfloat16()
    h[:, 4:] = h[:, :4]  # every maximum tied between two neighbours, as ball query's nearest padding makes them
    with torch.no_grad():
        fast = max_over_neighbours(h)  # amax: no indices
    leaf = h.clone().requires_grad_(True)
    slow = max_over_neighbours(leaf)  # torch.max with indices
    assert torch.equal(fast, slow.detach())
    slow.sum().backward()
    assert torch.equal(leaf.grad.sum(dim=1), torch.ones(50, 6, dtype=leaf.grad.dtype))  # the whole gradient ...
    assert torch.equal((leaf.grad != 0).sum(dim=1), torch.ones(50, 6, dtype=torch.long))  # ... to one neighbour


def test_frozen_forward_equals_the_differentiable_one():
    torch.manual_seed(0)
    model = PointNeXt(tiny_config())
    batch = make_batch([room_scene(600, 5), room_scene(400, 6)])
    warm_batchnorm(model, batch)
    with torch.no_grad():
        frozen = model(batch)
    assert torch.equal(frozen, model(batch).detach())


def batchnorm_relu_max(h: torch.Tensor, bn: torch.nn.BatchNorm1d) -> torch.Tensor:
    """The unfused layers: BatchNorm over the (M * k) rows, ReLU, torch.max over neighbours; h (M, k, C)."""
    return torch.relu(bn(h.reshape(-1, h.shape[-1])).view(h.shape)).max(dim=1).values


def scaled_batchnorm(channels: int) -> torch.nn.BatchNorm1d:
    """float64 BatchNorm with negative scales in some channels (there the max comes from the minimum)."""
    bn = torch.nn.BatchNorm1d(channels).double()
    with torch.no_grad():
        bn.weight.copy_(torch.linspace(-2.0, 1.5, channels))
        bn.bias.uniform_(-0.5, 0.5)
        bn.running_mean.uniform_(-0.3, 0.3)
        bn.running_var.uniform_(0.5, 2.0)
    return bn


@pytest.mark.parametrize("training", [True, False])
def test_norm_relu_max_computes_what_the_unfused_layers_do(training):
    torch.manual_seed(0)
    h = torch.randn(40, 8, 6, dtype=torch.float64)  # no ties
    grad = torch.randn(40, 6, dtype=torch.float64)
    bn = scaled_batchnorm(6).train(training)
    fused_bn = copy.deepcopy(bn)
    leaf, fused_leaf = h.clone().requires_grad_(True), h.clone().requires_grad_(True)
    out, fused_out = batchnorm_relu_max(leaf, bn), norm_relu_max(fused_leaf, fused_bn)
    (out * grad).sum().backward()
    (fused_out * grad).sum().backward()
    assert (out > 0).any() and (out == 0).any()  # both sides of the ReLU
    assert torch.allclose(fused_out, out, atol=1e-12)
    assert torch.allclose(fused_leaf.grad, leaf.grad, atol=1e-12)
    assert torch.allclose(fused_bn.weight.grad, bn.weight.grad, atol=1e-12)
    assert torch.allclose(fused_bn.bias.grad, bn.bias.grad, atol=1e-12)
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        assert torch.allclose(getattr(fused_bn, name), getattr(bn, name), atol=1e-12), name


def test_norm_relu_max_shares_a_tied_maximum_between_its_neighbours():
    torch.manual_seed(0)
    h = torch.randn(40, 8, 6, dtype=torch.float64)
    h[:, 4:] = h[:, :4]  # every neighbour twice, as ball query pads with copies of the nearest one
    bn = scaled_batchnorm(6)
    fused_bn = copy.deepcopy(bn)
    leaf, fused_leaf = h.clone().requires_grad_(True), h.clone().requires_grad_(True)
    batchnorm_relu_max(leaf, bn).sum().backward()
    norm_relu_max(fused_leaf, fused_bn).sum().backward()
    assert torch.allclose(fused_leaf.grad[:, :4], fused_leaf.grad[:, 4:], atol=1e-12)  # halves
    pairs, fused_pairs = leaf.grad[:, :4] + leaf.grad[:, 4:], fused_leaf.grad[:, :4] + fused_leaf.grad[:, 4:]
    assert torch.allclose(fused_pairs, pairs, atol=1e-12)  # what a padded neighbour receives in all


def test_fused_and_unfused_networks_compute_the_same_function_and_gradients():
    torch.manual_seed(0)
    batch = make_batch([room_scene(600, 5), room_scene(400, 6)])
    batch = {key: value.double() if value.is_floating_point() else value for key, value in batch.items()}
    unfused = PointNeXt(dataclasses.replace(tiny_config(), fused_max=False, head_dropout=0.0)).double()
    fused = PointNeXt(dataclasses.replace(tiny_config(), head_dropout=0.0)).double()
    fused.load_state_dict(unfused.state_dict())
    losses = []
    for model in (unfused, fused):
        model.train()
        loss = torch.nn.functional.cross_entropy(model(batch), batch["label"])
        loss.backward()
        losses.append(loss.detach())
    assert torch.allclose(losses[1], losses[0], atol=1e-10)
    for (name, a), b in zip(unfused.named_parameters(), fused.parameters()):
        assert torch.allclose(b.grad, a.grad, rtol=1e-6, atol=1e-9), name
    for (name, a), b in zip(unfused.named_buffers(), fused.buffers()):
        assert torch.allclose(b.double(), a.double(), atol=1e-10), name
