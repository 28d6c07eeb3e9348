"""Tasks: each one's own work inside the engine's shared stages (see understudy.run.engine)."""
