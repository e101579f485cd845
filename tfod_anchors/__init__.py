"""tfod-anchors: fit and check TFOD anchor generators against a dataset's boxes."""

__version__ = "0.1.0"
