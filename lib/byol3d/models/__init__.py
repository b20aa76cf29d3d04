"""PointNeXt (Qian et al., NeurIPS 2022) encoder, decoder and segmentation head."""

from byol3d.models.config import PointNeXtConfig
from byol3d.models.pointnext import EncoderOutput, PointNeXt

__all__ = ["EncoderOutput", "PointNeXt", "PointNeXtConfig"]
