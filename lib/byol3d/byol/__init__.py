"""BYOL objective for point clouds (Grill et al., "Bootstrap Your Own Latent", NeurIPS 2020).

heads (projector / predictor MLPs) -> model (online + EMA target around PointNeXt; forward(view1, view2)
-> projections and predictions) -> loss (byol_objective: global, region and dense normalised MSE);
ema (target update, tau schedule and its run-length rule); monitor (collapse indicators); views_check
(how hard the two views are, and whether per-point channels give them away).
Training loop and CLI: byol3d.pretrain.
"""

from byol3d.byol.ema import ema_update, tau_base_for, tau_schedule
from byol3d.byol.heads import MLPHead
from byol3d.byol.loss import (byol_objective, match_views, normalized_mse, pool_regions, pool_scenes, region_ids,
                              symmetric_loss)
from byol3d.byol.model import BYOL, freeze_for_training
from byol3d.byol.monitor import collapse_std, mean_cosine

__all__ = [
    "BYOL", "MLPHead", "byol_objective", "collapse_std", "ema_update", "freeze_for_training", "match_views",
    "mean_cosine", "normalized_mse", "pool_regions", "pool_scenes", "region_ids", "symmetric_loss", "tau_base_for",
    "tau_schedule",
]
