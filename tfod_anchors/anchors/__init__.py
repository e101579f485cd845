"""TFOD's anchor generators in numpy, and a generator-independent anchor layout.

:func:`build_anchor_generator` turns an ``AnchorGenerator`` proto into one of
:class:`GridAnchorGenerator`, :class:`SsdAnchorGenerator`,
:class:`MultiscaleAnchorGenerator` or :class:`FlexibleGridAnchorGenerator`;
each gives an :class:`AnchorLayout` (pixels of the padded input) and the exact
float32 array TFOD would generate.
"""

from .builder import AnchorGenerator, build_anchor_generator, generator_kind
from .flexible import FlexibleGrid, FlexibleGridAnchorGenerator
from .grid import GridAnchorGenerator
from .layout import AnchorLayout, AnchorLevel
from .multiscale import MultiscaleAnchorGenerator
from .ssd import SsdAnchorGenerator

__all__ = [
    "AnchorGenerator",
    "AnchorLayout",
    "AnchorLevel",
    "FlexibleGrid",
    "FlexibleGridAnchorGenerator",
    "GridAnchorGenerator",
    "MultiscaleAnchorGenerator",
    "SsdAnchorGenerator",
    "build_anchor_generator",
    "generator_kind",
]
