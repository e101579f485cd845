"""Data only: the compiled object_detection schema (see tools/build_schema.py)."""
