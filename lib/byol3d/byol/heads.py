"""Projector and predictor MLPs of BYOL (Grill et al., "Bootstrap Your Own Latent", NeurIPS 2020).

The paper uses the same small MLP shape for both heads: Linear(d, 4096) -> BatchNorm -> ReLU ->
Linear(4096, 256). The projector maps a representation y to a projection z; the predictor (online
network only) maps z to a prediction q of the target's projection of the other view. The output layer
has no BatchNorm and no activation, as in the paper.
"""

from __future__ import annotations

import torch
from torch import nn


class MLPHead(nn.Module):
    """Linear -> BatchNorm1d -> ReLU -> Linear, the BYOL projector / predictor (Grill et al. 2020, Sec. 3.3).

    Defaults are the paper's (hidden 4096, output 256); the CPU presets use smaller heads.
    BatchNorm normalises over the rows of the input: scenes for the global loss, point pairs for the
    dense loss, so a training batch needs at least 2 rows.
    """

    def __init__(self, in_dim: int, hidden_dim: int = 4096, out_dim: int = 256):
        super().__init__()
        for name, value in (("in_dim", in_dim), ("hidden_dim", hidden_dim), ("out_dim", out_dim)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"MLPHead: {name} must be a positive int, got {value!r}")
        self.in_dim, self.hidden_dim, self.out_dim = in_dim, hidden_dim, out_dim
        self.net = nn.Sequential(
            nn.Linear(in_dim, hidden_dim),
            nn.BatchNorm1d(hidden_dim),
            nn.ReLU(inplace=True),
            nn.Linear(hidden_dim, out_dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (M, in_dim) -> (M, out_dim)."""
        if x.dim() != 2 or x.shape[1] != self.in_dim:
            raise ValueError(
                f"MLPHead: expected input (M, {self.in_dim}), got {tuple(x.shape)}"
            )
        return self.net(x)
