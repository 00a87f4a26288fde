"""The per-worker training loop, its metrics and checkpoints. Knows nothing of Tune."""
