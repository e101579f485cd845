"""The TF Model Garden (tf-models-official) experiments as a framework."""
