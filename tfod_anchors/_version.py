"""The package version, in a module of its own so that any stage can name it without
importing the package root (setup.cfg reads it statically:
``attr: tfod_anchors._version.__version__``)."""

__version__ = "0.1.0"
