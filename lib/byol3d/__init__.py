"""byol3d: BYOL self-supervised pre-training of PointNeXt on ScanNet v2 scenes.

Data flow, one sub-package per step:
    data -> transforms -> models -> byol (objective) -> train (loops) -> eval (probe, metrics) -> viz / report

References: Grill et al., "Bootstrap Your Own Latent", NeurIPS 2020 (BYOL);
Qian et al., "PointNeXt", NeurIPS 2022; Dai et al., "ScanNet", CVPR 2017.
"""

__version__ = "0.1.0"
