"""BYOL objective pieces (Grill et al., NeurIPS 2020): heads, EMA + tau schedule, loss, dense matching,
collapse monitor, LR schedule and checkpoint files."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch
from torch import nn

from byol3d.byol.ema import ema_update, tau_base_for, tau_schedule
from byol3d.byol.heads import MLPHead
from byol3d.byol.loss import match_views, normalized_mse, pool_regions, pool_scenes, region_ids, symmetric_loss
from byol3d.byol.masking import mask_cells, masked_view
from byol3d.byol.model import loss_kinds
from byol3d.byol.monitor import collapse_std, mean_cosine
from byol3d.train.checkpoint import CheckpointError, load_checkpoint, restore_rng, save_checkpoint
from byol3d.train.schedule import cosine_with_warmup, lr_factor


def test_tau_schedule_endpoints_and_formula():
    assert tau_schedule(0, 100, 0.996) == pytest.approx(0.996)
    assert tau_schedule(100, 100, 0.996) == pytest.approx(1.0)
    assert tau_schedule(50, 100, 0.996) == pytest.approx(1 - 0.004 * 0.5)
    k, total = 30, 100
    assert tau_schedule(k, total, 0.99) == pytest.approx(1 - 0.01 * (math.cos(math.pi * k / total) + 1) / 2)
    values = [tau_schedule(k, 20, 0.9) for k in range(21)]
    assert all(a < b for a, b in zip(values, values[1:]))
    with pytest.raises(ValueError, match="tau_base"):
        tau_schedule(0, 10, 1.5)


def test_tau_base_rule_follows_the_run_length():
    assert tau_base_for(150) == pytest.approx(0.9)  # window clamped to 10 steps
    assert tau_base_for(450) == pytest.approx(1 - 15 / 450)  # a fifteenth of the run
    assert tau_base_for(3750) == pytest.approx(0.996) == tau_base_for(300_000)  # the paper's, for long runs
    with pytest.raises(ValueError, match="total steps"):
        tau_base_for(0)


def _small_net() -> nn.Module:
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))


def test_ema_update_parameters_and_buffers():
    torch.manual_seed(0)
    online, target = _small_net(), _small_net()
    online(torch.randn(8, 3))  # train-mode forward: moves online running stats, counter 0 -> 1
    before_t = {k: v.clone() for k, v in target.state_dict().items()}
    online_state = online.state_dict()
    ema_update(online, target, tau=0.9)
    for name, value in target.state_dict().items():
        if value.is_floating_point():
            expected = 0.9 * before_t[name] + 0.1 * online_state[name]
            torch.testing.assert_close(value, expected)
        else:  # num_batches_tracked: copied
            assert int(value) == int(online_state[name]) == 1
    # tau = 1 leaves the target unchanged; tau = 0 copies the online network
    snapshot = {k: v.clone() for k, v in target.state_dict().items()}
    ema_update(online, target, tau=1.0)
    for name, value in target.state_dict().items():
        assert torch.equal(value, snapshot[name])
    ema_update(online, target, tau=0.0)
    for name, value in target.state_dict().items():
        assert torch.equal(value, online_state[name])


def test_ema_update_rejects_mismatched_modules():
    with pytest.raises(ValueError, match="differ"):
        ema_update(_small_net(), nn.Linear(3, 4), 0.99)


def test_mlp_head_shape_and_input_check():
    head = MLPHead(16, hidden_dim=32, out_dim=8)
    assert isinstance(head.net[1], nn.BatchNorm1d) and head.net[0].out_features == 32
    assert head(torch.randn(5, 16)).shape == (5, 8)
    with pytest.raises(ValueError, match=r"\(M, 16\)"):
        head(torch.randn(5, 15))


def test_normalized_mse_known_vectors():
    e1 = torch.tensor([[1.0, 0.0]])
    assert normalized_mse(e1, torch.tensor([[0.0, 3.0]])).item() == pytest.approx(2.0)  # orthogonal
    assert normalized_mse(e1, torch.tensor([[5.0, 0.0]])).item() == pytest.approx(0.0)  # same direction
    assert normalized_mse(e1, torch.tensor([[-2.0, 0.0]])).item() == pytest.approx(4.0)  # opposite
    q, z = torch.tensor([[1.0, 1.0]]), torch.tensor([[1.0, 0.0]])
    assert normalized_mse(q, z).item() == pytest.approx(2 - 2 / math.sqrt(2))
    # equals the squared distance of the normalised vectors, row-averaged
    a, b = torch.randn(7, 5), torch.randn(7, 5)
    direct = ((a / a.norm(dim=1, keepdim=True) - b / b.norm(dim=1, keepdim=True)) ** 2).sum(1).mean()
    torch.testing.assert_close(normalized_mse(a, b), direct)


def test_symmetric_loss_is_symmetric_and_stops_target_gradient():
    torch.manual_seed(1)
    q1, q2 = torch.randn(6, 4, requires_grad=True), torch.randn(6, 4, requires_grad=True)
    z1, z2 = torch.randn(6, 4, requires_grad=True), torch.randn(6, 4, requires_grad=True)
    loss = symmetric_loss(q1, z2, q2, z1)
    torch.testing.assert_close(loss, symmetric_loss(q2, z1, q1, z2))
    torch.testing.assert_close(loss, normalized_mse(q1, z2) + normalized_mse(q2, z1))
    loss.backward()
    assert q1.grad is not None and q2.grad is not None
    assert z1.grad is None and z2.grad is None


def test_pool_scenes_mean_and_max():
    feats = torch.tensor([[1.0, -1.0], [3.0, 5.0], [2.0, 2.0], [-4.0, 0.0], [0.0, 6.0]])
    offset = torch.tensor([2, 5])
    torch.testing.assert_close(pool_scenes(feats, offset, "mean"), torch.tensor([[2.0, 2.0], [-2 / 3, 8 / 3]]))
    torch.testing.assert_close(pool_scenes(feats, offset, "max"), torch.tensor([[3.0, 5.0], [2.0, 6.0]]))
    with pytest.raises(ValueError, match="mode"):
        pool_scenes(feats, offset, "sum")


def test_match_views_pairs_the_same_points():
    g = torch.Generator().manual_seed(0)
    # scene 0 has 50 original points, scene 1 has 40; each view keeps a random subset, shuffled.
    views = []
    for n0, n1 in ((30, 25), (20, 35)):
        parts = [torch.randperm(50, generator=g)[:n0], torch.randperm(40, generator=g)[:n1]]
        views.append((torch.cat(parts), torch.tensor([n0, n0 + n1])))
    (idx1, off1), (idx2, off2) = views
    rows1, rows2 = match_views(idx1, off1, idx2, off2, pairs_per_scene=1000, generator=g)
    assert torch.equal(idx1[rows1], idx2[rows2])
    assert torch.equal(rows1 >= 30, rows2 >= 20)  # same scene on both sides
    for lo1, hi1, lo2, hi2 in ((0, 30, 0, 20), (30, 55, 20, 55)):
        shared = set(idx1[lo1:hi1].tolist()) & set(idx2[lo2:hi2].tolist())
        got = {int(idx1[r]) for r in rows1 if lo1 <= r < hi1}
        assert got == shared  # every shared point, once, when fewer than pairs_per_scene
    few1, few2 = match_views(idx1, off1, idx2, off2, pairs_per_scene=3, generator=g)
    assert few1.numel() == 6 and torch.equal(idx1[few1], idx2[few2])
    assert (few1 < 30).sum() == 3


def test_match_views_duplicates_and_no_overlap():
    idx1, idx2 = torch.tensor([4, 4, 7, 1]), torch.tensor([7, 4, 9])
    rows1, rows2 = match_views(idx1, torch.tensor([4]), idx2, torch.tensor([3]), pairs_per_scene=10)
    assert sorted(idx1[rows1].tolist()) == [4, 7] and torch.equal(idx1[rows1], idx2[rows2])
    with pytest.raises(ValueError, match="share no point"):
        match_views(torch.tensor([0, 1]), torch.tensor([2]), torch.tensor([2, 3]), torch.tensor([2]), 4)


def test_region_ids_split_scenes_and_cells_and_pool_means():
    coord = torch.tensor([[0.1, 0.1, 0.1], [0.4, 0.2, 0.3], [0.6, 0.1, 0.1], [0.1, 0.1, 0.1], [-0.1, 0.0, 0.0]])
    scene = torch.tensor([0, 0, 0, 1, 1])
    region, count = region_ids(coord, scene, size=0.5)
    assert count == 4  # scene 0: cells (0,0,0) and (1,0,0); scene 1: (0,0,0) and (-1,0,0)
    assert region[0] == region[1] and len({int(r) for r in region[[0, 2, 3, 4]]}) == 4
    feats = torch.arange(10, dtype=torch.float32).reshape(5, 2)
    pooled = pool_regions(feats, region, count)
    torch.testing.assert_close(pooled[region[0]], feats[:2].mean(0))
    torch.testing.assert_close(pooled[region[4]], feats[4])
    with pytest.raises(ValueError, match="size"):
        region_ids(coord, scene, size=0.0)


@pytest.mark.parametrize("loss, kinds", [("dense", ("dense",)), ("dense+global", ("global", "dense")),
                                         ("region+dense", ("region", "dense"))])
def test_loss_kinds_parse_in_summing_order(loss, kinds):
    assert loss_kinds(loss) == kinds


@pytest.mark.parametrize("loss", ["", "both", "dense+dense", "global+pixel", None])
def test_loss_kinds_reject_unknown_names(loss):
    with pytest.raises(ValueError, match="joined by"):
        loss_kinds(loss)


def test_collapse_monitor_healthy_and_collapsed():
    torch.manual_seed(0)
    d = 64
    healthy = collapse_std(torch.randn(4096, d))
    assert healthy == pytest.approx(1 / math.sqrt(d), rel=0.05)
    collapsed = collapse_std(torch.randn(1, d).repeat(100, 1) + 1e-6 * torch.randn(100, d))
    assert collapsed < 1e-3
    a = torch.randn(10, d)
    assert mean_cosine(a, 2 * a) == pytest.approx(1.0)
    assert mean_cosine(a, -a) == pytest.approx(-1.0)


def test_lr_schedule_warmup_then_cosine():
    assert lr_factor(0, 100, 10) == pytest.approx(0.1)
    assert lr_factor(9, 100, 10) == pytest.approx(1.0)
    assert lr_factor(10, 100, 10) == pytest.approx(1.0)
    assert lr_factor(55, 100, 10) == pytest.approx(0.5)
    assert lr_factor(100, 100, 10) == pytest.approx(0.0, abs=1e-12)
    opt = torch.optim.AdamW(nn.Linear(2, 2).parameters(), lr=1e-3)
    sched = cosine_with_warmup(opt, total=100, warmup=10)
    assert opt.param_groups[0]["lr"] == pytest.approx(1e-4)
    for _ in range(55):
        opt.step()
        sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.5e-3)


def test_checkpoint_round_trip_restores_rng(tmp_path):
    path = tmp_path / "ckpt" / "last.pt"
    net = _small_net()
    random.seed(3), np.random.seed(3), torch.manual_seed(3)
    save_checkpoint(path, {"step": 7, "online": net.state_dict()})
    expected = (random.random(), float(np.random.rand()), float(torch.rand(1)))
    random.seed(99), np.random.seed(99), torch.manual_seed(99)
    state = load_checkpoint(path, required=("step", "online"))
    restore_rng(state["rng"])
    assert (random.random(), float(np.random.rand()), float(torch.rand(1))) == expected
    assert state["step"] == 7 and torch.equal(state["online"]["0.weight"], net.state_dict()["0.weight"])
    with pytest.raises(CheckpointError, match="lacks"):
        load_checkpoint(path, required=("optimizer",))


def test_corrupt_or_missing_checkpoint_gives_clear_error(tmp_path):
    path = tmp_path / "last.pt"
    save_checkpoint(path, {"step": 1, "online": _small_net().state_dict()})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # truncated, as by a crash without atomic writes
    with pytest.raises(CheckpointError, match=r"last\.pt.*corrupt or truncated"):
        load_checkpoint(path)
    path.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")


def test_mask_hides_whole_cells_at_the_asked_ratio():
    """Points at the same place are masked alike (a cell is all or nothing), about `ratio` of a large
    uniform set is masked, the same generator gives the same mask, and ratio 0 masks nothing."""
    rng = torch.Generator().manual_seed(0)
    coord = torch.rand(20000, 3, generator=rng) * 6.0  # (N, 3) metres
    coord = torch.cat([coord, coord])  # every point twice: rows i and i + 20000 share a cell
    offset = torch.tensor([40000])
    masked = mask_cells(coord, offset, 0.3, 0.5, torch.Generator().manual_seed(1))
    assert torch.equal(masked[:20000], masked[20000:])
    assert 0.4 < masked.float().mean() < 0.6
    assert torch.equal(masked, mask_cells(coord, offset, 0.3, 0.5, torch.Generator().manual_seed(1)))
    assert not torch.equal(masked, mask_cells(coord, offset, 0.3, 0.5, torch.Generator().manual_seed(2)))
    assert not mask_cells(coord, offset, 0.3, 0.0, rng).any()
    with pytest.raises(ValueError, match="ratio"):
        mask_cells(coord, offset, 0.3, 1.0)
    with pytest.raises(ValueError, match="size"):
        mask_cells(coord, offset, 0.0, 0.5)


def test_masked_view_zeroes_features_only_and_leaves_the_view_alone():
    view = {"coord": torch.rand(6, 3), "feat": torch.rand(6, 7) + 1.0, "offset": torch.tensor([6])}
    before = {k: v.clone() for k, v in view.items()}
    masked = torch.tensor([True, False, False, True, False, False])
    out = masked_view(view, masked)
    assert torch.equal(out["feat"][masked], torch.zeros(2, 7))
    assert torch.equal(out["feat"][~masked], view["feat"][~masked])
    assert out["coord"] is view["coord"] and out["offset"] is view["offset"]
    assert all(torch.equal(view[k], before[k]) for k in view)
