"""Measuring teacher and student side by side."""
