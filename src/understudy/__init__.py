"""understudy: distil a big model into a small one, and prove the small one is good enough to ship."""

__version__ = "0.1.0"
