"""byol3d.ops: cpu/torch parity, semantics against brute force, scene isolation, gradients, errors."""

from __future__ import annotations

import fpsample
import numpy as np
import pytest
import torch

from byol3d import ops
from byol3d.ops import cpu, pointops_backend, torch_backend

BACKENDS = ("cpu", "torch")


def make_batch(kinds: list[str], sizes: list[int], seed: int = 0, jitter: float = 1e-4):
    """Concatenated scenes -> (xyz (N, 3) float32, offset (B,) int64).

    kinds: "random" (uniform in a 2 m cube), "grid" (5 cm lattice), "plane" (z = 0 sheet); grid and
    plane get `jitter` metres of noise (0 keeps the exact ties of the lattice).
    """
    g = torch.Generator().manual_seed(seed)
    parts = []
    for kind, n in zip(kinds, sizes):
        if kind == "random":
            pts = torch.rand(n, 3, generator=g) * 2
        elif kind == "grid":
            side = int(np.ceil(n ** (1 / 3)))
            lattice = torch.stack(torch.meshgrid(*[torch.arange(side)] * 3, indexing="ij"), -1).reshape(-1, 3)
            pts = lattice[:n].float() * 0.05
        else:
            pts = torch.cat([torch.rand(n, 2, generator=g) * 3, torch.zeros(n, 1)], 1)
        if kind != "random":
            pts = pts + jitter * torch.randn(n, 3, generator=g)
        parts.append(pts)  # scenes overlap in space, so any mixing would show in the results
    return torch.cat(parts), ops.batch_to_offset(sizes)


def brute_dist2(xyz, offset, new_xyz, new_offset):
    """Per-query list of dist2 to every point of its own scene (the pair_dist2 formula, float32)."""
    out, bounds = [], [0] + offset.tolist()
    scene = ops.offset_to_batch(new_offset)
    for q in range(new_xyz.shape[0]):
        s, e = bounds[scene[q]], bounds[scene[q] + 1]
        diff = xyz[s:e] - new_xyz[q]
        out.append(((diff * diff).sum(-1), s))
    return out


def assert_valid_fps(xyz, offset, new_offset, idx):
    """Every sample is a farthest point from the previous ones (any tie), scene by scene, from row 0."""
    bounds, qb = [0] + offset.tolist(), [0] + new_offset.tolist()
    for b in range(len(offset)):
        pts, sel = xyz[bounds[b] : bounds[b + 1]], idx[qb[b] : qb[b + 1]] - bounds[b]
        assert sel.numel() == 0 or sel[0] == 0
        mind = torch.full((pts.shape[0],), float("inf"))
        for i in range(1, sel.numel()):
            mind = torch.minimum(mind, ((pts - pts[sel[i - 1]]) ** 2).sum(-1))
            assert mind[sel[i]] == mind.max(), f"scene {b} step {i} is not a farthest point"


SCENES = [(["random", "random", "random", "random", "random"], [301, 7, 2, 1, 2500]),
          (["grid", "plane", "random"], [343, 1000, 3]),
          (["plane", "grid"], [2600, 125])]


@pytest.mark.parametrize("kinds,sizes", SCENES)
def test_fps_cpu_torch_same_sequence(kinds, sizes):
    xyz, off = make_batch(kinds, sizes)
    new_off = ops.batch_to_offset([min(max(1, n // 4), 150) if n > 2 else n for n in sizes])
    a = ops.farthest_point_sample(xyz, off, new_off, backend="cpu")  # (M,)
    b = ops.farthest_point_sample(xyz, off, new_off, backend="torch")
    assert a.dtype == torch.int64 and a.shape == (int(new_off[-1]),)
    assert torch.equal(a, b)
    assert_valid_fps(xyz, off, new_off, a)


def test_fps_exact_ties_and_full_scene():
    """On an exact lattice both backends still give valid FPS; M_b == N_b gives a permutation."""
    xyz, off = make_batch(["grid", "plane"], [216, 50], jitter=0.0)
    new_off = ops.batch_to_offset([60, 50])
    for backend in BACKENDS:
        idx = ops.farthest_point_sample(xyz, off, new_off, backend=backend)
        assert_valid_fps(xyz, off, new_off, idx)
        assert sorted(idx[60:].tolist()) == list(range(216, 266))


def test_fps_start_index_workaround_reaches_row_zero():
    """fpsample applies start_idx after reordering; our replay (or a fixed fpsample) starts at row 0."""
    for kind, n in (("random", 5000), ("plane", 4096), ("grid", 3375)):
        pts = make_batch([kind], [n], seed=3)[0].numpy()
        height = 5
        first = fpsample.bucket_fps_kdline_sampling(pts, 4, height, start_idx=cpu._kdline_start_position(pts, height))
        plain = fpsample.bucket_fps_kdline_sampling(pts, 4, height, start_idx=0)
        assert first[0] == 0 or plain[0] == 0
        assert cpu._fps_scene(pts, 50)[0] == 0


@pytest.mark.parametrize("kinds,sizes", SCENES)
@pytest.mark.parametrize("k", [1, 5, 40])
def test_knn_parity_and_brute_force(kinds, sizes, k):
    xyz, off = make_batch(kinds, sizes, seed=1)
    g = torch.Generator().manual_seed(2)
    new_off = ops.batch_to_offset([3] * len(sizes))  # 3 queries per scene, off the point set
    new_xyz = torch.cat([xyz[s : s + 1] + torch.rand(3, 3, generator=g) * 0.2 for s in [0] + off[:-1].tolist()])
    results = {be: ops.knn(k, xyz, off, new_xyz, new_off, backend=be) for be in BACKENDS}
    (ia, da), (ib, db) = results["cpu"], results["torch"]
    assert ia.shape == (new_xyz.shape[0], k) and ia.dtype == torch.int64 and da.dtype == xyz.dtype
    assert torch.equal(da, db)  # same sorted distances (ties may swap indices)
    for q, (d_all, start) in enumerate(brute_dist2(xyz, off, new_xyz, new_off)):
        expect = torch.sort(d_all).values[: min(k, d_all.numel())]
        assert torch.equal(da[q, : expect.numel()], expect)
        assert torch.all(da[q, expect.numel() :] == expect[0])  # short scene: nearest repeated
        assert ((ia[q] >= start) & (ia[q] < start + d_all.numel())).all()
        if torch.unique(expect).numel() == expect.numel():
            assert set(ia[q].tolist()) == set(ib[q].tolist())


@pytest.mark.parametrize("kinds,sizes", SCENES)
@pytest.mark.parametrize("k,radius", [(8, 0.06), (32, 0.3), (4, 0.01)])
def test_ball_query_parity_and_semantics(kinds, sizes, k, radius):
    xyz, off = make_batch(kinds, sizes, seed=4)
    new_off = ops.batch_to_offset([min(n, 9) for n in sizes])
    centres = torch.cat([torch.arange(s, s + min(n, 9)) for s, n in zip([0] + off[:-1].tolist(), sizes)])
    new_xyz = xyz[centres]  # (M, 3) centres taken from the points
    a = ops.ball_query(k, radius, xyz, off, new_xyz, new_off, backend="cpu")
    b = ops.ball_query(k, radius, xyz, off, new_xyz, new_off, backend="torch")
    assert a.shape == (centres.numel(), k) and a.dtype == torch.int64
    da, db = ((xyz[a] - new_xyz[:, None]) ** 2).sum(-1), ((xyz[b] - new_xyz[:, None]) ** 2).sum(-1)
    assert torch.equal(torch.sort(da).values, torch.sort(db).values)
    for q, (d_all, start) in enumerate(brute_dist2(xyz, off, new_xyz, new_off)):
        inside = torch.sort(d_all[d_all < radius**2]).values[:k]  # the k nearest within the radius
        assert inside.numel() >= 1  # the centre itself
        assert torch.equal(da[q, : inside.numel()], inside)
        assert torch.all(a[q, inside.numel() :] == a[q, 0]) and da[q, 0] == 0  # padded with the first
        assert ((a[q] >= start) & (a[q] < start + d_all.numel())).all()


def test_ball_query_only_centre_and_empty_radius():
    """Sparse points: each centre finds only itself; a query off the points gets its nearest point."""
    xyz = torch.tensor([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [5, 5, 5], [6, 5, 5]])  # (5, 3)
    off = torch.tensor([3, 5])
    new_xyz = torch.tensor([[1.0, 0, 0], [0.6, 0.0, 0.0], [5.9, 5, 5]])  # centre, off-point, off-point
    new_off = torch.tensor([2, 3])
    for backend in BACKENDS:
        idx = ops.ball_query(4, 0.1, xyz, off, new_xyz, new_off, backend=backend)
        assert idx.tolist() == [[1] * 4, [1] * 4, [4] * 4]


def test_scenes_never_see_each_other():
    """Two scenes with interleaved coordinates: every result stays in the query's own scene."""
    g = torch.Generator().manual_seed(5)
    a, b = torch.rand(200, 3, generator=g), torch.rand(150, 3, generator=g)
    xyz, off = torch.cat([a, b]), torch.tensor([200, 350])
    new_off = torch.tensor([40, 70])
    feats = torch.cat([torch.zeros(200, 2), torch.ones(150, 2)])  # (N, 2) scene marker
    for backend in BACKENDS:
        centres = ops.farthest_point_sample(xyz, off, new_off, backend=backend)
        assert (centres[:40] < 200).all() and (centres[40:] >= 200).all()
        new_xyz = xyz[centres]
        knn_idx, _ = ops.knn(16, xyz, off, new_xyz, new_off, backend=backend)
        ball = ops.ball_query(16, 0.5, xyz, off, new_xyz, new_off, backend=backend)
        for idx in (knn_idx, ball):
            assert (idx[:40] < 200).all() and (idx[40:] >= 200).all()
        up = ops.three_nn_interpolate(new_xyz, new_off, feats[centres], xyz, off, backend=backend)
        assert torch.allclose(up, feats)


def test_torch_backend_chunking_gives_same_result(monkeypatch):
    xyz, off = make_batch(["random", "plane"], [500, 300], seed=6)
    new_off = ops.batch_to_offset([50, 30])
    whole = ops.knn(8, xyz, off, xyz[:80], new_off, backend="torch")
    monkeypatch.setattr(torch_backend, "CHUNK_ELEMENTS", 1000)  # 2-3 queries per chunk
    chunked = ops.knn(8, xyz, off, xyz[:80], new_off, backend="torch")
    assert torch.equal(whole[1], chunked[1])


def test_group_gradcheck_and_values():
    g = torch.Generator().manual_seed(7)
    feats = torch.randn(6, 3, dtype=torch.float64, generator=g, requires_grad=True)
    idx = torch.tensor([[0, 5, 5], [2, 1, 0]])
    out = ops.group(idx, feats)  # (2, 3, 3)
    assert out.shape == (2, 3, 3) and torch.equal(out[0, 1], feats[5])
    assert torch.autograd.gradcheck(lambda f: ops.group(idx, f), (feats,))


@pytest.mark.parametrize("backend", BACKENDS)
def test_three_nn_interpolate_gradcheck_and_weights(backend):
    g = torch.Generator().manual_seed(8)
    known = torch.rand(9, 3, dtype=torch.float64, generator=g)  # scenes of 6, 1, 2 known points
    off_known = torch.tensor([6, 7, 9])
    query = torch.rand(7, 3, dtype=torch.float64, generator=g)
    off_query = torch.tensor([3, 5, 7])
    feats = torch.randn(9, 4, dtype=torch.float64, generator=g, requires_grad=True)

    def fn(f):
        return ops.three_nn_interpolate(known, off_known, f, query, off_query, backend=backend)

    assert torch.autograd.gradcheck(fn, (feats,))
    out = fn(feats).detach()  # (7, 4)
    assert torch.allclose(out[3:5], feats[6].detach().expand(2, 4))  # one known point: its feature
    d = (query[5:, None] - known[None, 7:]).norm(dim=-1)  # (2, 2): two known points only
    w = 1 / (d + 1e-8)
    assert torch.allclose(out[5:], (w / w.sum(1, keepdim=True)) @ feats[7:].detach())
    same = ops.three_nn_interpolate(known, off_known, feats, known, off_known, backend=backend)
    assert torch.allclose(same, feats, atol=1e-6)  # a query on a known point takes its feature


def test_backend_choice_and_pointops_error():
    xyz, off = make_batch(["random"], [50])
    assert ops.resolve_backend(None, xyz.device, "knn") == "cpu"
    with ops.use_backend("torch"):
        assert ops.get_default_backend() == "torch"
        assert ops.resolve_backend(None, xyz.device, "knn") == "torch"
    assert ops.get_default_backend() == "auto"
    with pytest.raises(ops.OpsInputError, match="unknown backend"):
        ops.knn(3, xyz, off, xyz, off, backend="faiss")
    if pointops_backend.available():
        pytest.skip("pointops is installed here; its missing-package error cannot be shown")
    with pytest.raises(ops.OpsInputError, match="pip install"):
        ops.knn(3, xyz, off, xyz, off, backend="pointops")


def test_bad_inputs_raise_clear_errors():
    xyz, off = make_batch(["random", "random"], [20, 30])
    bad = {
        "strictly increasing": lambda: ops.knn(3, xyz, torch.tensor([30, 20]), xyz, off),
        r"offset\[-1\] must equal": lambda: ops.knn(3, xyz, torch.tensor([20, 49]), xyz, off),
        "k must be an int >= 1": lambda: ops.knn(0, xyz, off, xyz, off),
        "shape \\(N, 3\\)": lambda: ops.knn(3, xyz[:, :2], off, xyz, off),
        "integer tensor": lambda: ops.knn(3, xyz, off.float(), xyz, off),
        "scenes but new_offset": lambda: ops.knn(3, xyz, off, xyz, torch.tensor([50])),
        "asks for 25 samples": lambda: ops.farthest_point_sample(xyz, off, torch.tensor([25, 30])),
        "radius must be > 0": lambda: ops.ball_query(3, 0.0, xyz, off, xyz, off),
        "idx values must lie": lambda: ops.group(torch.tensor([[0, 50]]), xyz),
        "feats_known must be": lambda: ops.three_nn_interpolate(xyz, off, xyz[:10], xyz, off),
    }
    for message, call in bad.items():
        with pytest.raises(ops.OpsInputError, match=message):
            call()


def test_offset_batch_helpers():
    off = ops.batch_to_offset([3, 1, 2])
    assert off.tolist() == [3, 4, 6] and off.dtype == torch.int64
    assert ops.offset_to_batch(off).tolist() == [0, 0, 0, 1, 2, 2]
