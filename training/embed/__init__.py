"""embed-v1: audio ↔ MIDI embeddings (VICReg, A4/D4 descriptors); see training/embed/data.py and train.py."""
