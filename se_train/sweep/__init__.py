"""Grid expansion, divergence stopping, the trial driver and the Tuner run/resume."""
