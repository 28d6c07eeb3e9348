"""Exporting a trained student to other runtimes: ONNX (float32, or int8 by ONNX Runtime dynamic quantisation)."""

from .onnx import FORMATS, export_student

__all__ = ["FORMATS", "export_student"]
