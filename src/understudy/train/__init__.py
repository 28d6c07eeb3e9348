"""The training loop, shared by every student kind."""
