"""Model frameworks behind one protocol (filled in by the spec refactor)."""
