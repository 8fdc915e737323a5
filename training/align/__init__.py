"""Workbench for `align` and `locate`: the synthesized evaluation set (see synth.py)."""
