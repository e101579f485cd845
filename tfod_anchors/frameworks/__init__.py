"""The model-config frameworks behind one protocol: TFOD and the Model Garden."""
