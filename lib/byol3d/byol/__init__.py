"""BYOL objective for point clouds (Grill et al., "Bootstrap Your Own Latent", NeurIPS 2020).

heads (projector / predictor MLPs) -> model (online + EMA target around PointNeXt) -> loss (global and
dense normalised MSE) ; ema (target update, tau schedule) ; monitor (collapse indicators).
Training loop and CLI: byol3d.pretrain.
"""

from byol3d.byol.ema import ema_update, tau_schedule
from byol3d.byol.heads import MLPHead
from byol3d.byol.loss import match_views, normalized_mse, pool_scenes, symmetric_loss
from byol3d.byol.model import BYOL
from byol3d.byol.monitor import collapse_std, mean_cosine

__all__ = [
    "BYOL", "MLPHead", "collapse_std", "ema_update", "match_views", "mean_cosine", "normalized_mse",
    "pool_scenes", "symmetric_loss", "tau_schedule",
]
