"""Building blocks of restoration U-Nets: small ``nn.Module``s built from plain arguments.

Nothing here knows about specs, search or training; ``roadmap.build`` assembles these
into a network from an architecture spec. The conv / attention kinds and the partial-conv
channel rule are re-exported from the torch-free ``roadmap.channels`` (the spec checks them too).
"""

from blocks.conv import PartialConv, SeparableConv, create_spatial_conv
from blocks.fusion import (
    AddFusion,
    ConcatFusion,
    DenseAddFusion,
    DenseConcatFusion,
    NoFusion,
    ProjectAddFusion,
)
from blocks.gama import GAMAAttention
from blocks.head import UpscaleHead, upscale_image
from blocks.nafnet import NAFBlock, SimpleGate, SimplifiedChannelAttention
from blocks.norm import LayerNorm2d
from blocks.plain import ConvAct
from blocks.pmrid import PMRIDDecoderBlock, PMRIDEncoderBlock
from blocks.reparam import ERB, RRRB, SeparableRRRB, fold_reparam, fold_rrrb, has_reparam
from blocks.sampling import (
    ConvInterpUp,
    PixelShuffleUp,
    PixelUnshuffleDown,
    PoolConvDown,
    SeparableStridedDown,
    StridedConvDown,
    TransposedConvUp,
)
from blocks.unetmm import GRN, MSIAM, ConvNeXtV2Block, IEMHead, resize_levels
from roadmap.channels import ATTENTION_KINDS, CONV_KINDS, REPARAM_KINDS, partial_channels

__all__ = [
    "ATTENTION_KINDS",
    "CONV_KINDS",
    "REPARAM_KINDS",
    "partial_channels",
    "PartialConv",
    "SeparableConv",
    "create_spatial_conv",
    "LayerNorm2d",
    "NAFBlock",
    "SimpleGate",
    "SimplifiedChannelAttention",
    "GAMAAttention",
    "PMRIDEncoderBlock",
    "PMRIDDecoderBlock",
    "ConvAct",
    "UpscaleHead",
    "upscale_image",
    "StridedConvDown",
    "SeparableStridedDown",
    "PoolConvDown",
    "PixelUnshuffleDown",
    "PixelShuffleUp",
    "TransposedConvUp",
    "ConvInterpUp",
    "AddFusion",
    "ConcatFusion",
    "ProjectAddFusion",
    "NoFusion",
    "DenseConcatFusion",
    "DenseAddFusion",
    "GRN",
    "ConvNeXtV2Block",
    "MSIAM",
    "IEMHead",
    "resize_levels",
    "RRRB",
    "SeparableRRRB",
    "ERB",
    "fold_rrrb",
    "fold_reparam",
    "has_reparam",
]
