"""Use cases shared by views, CLI commands and jobs. Each takes plain values and owns its commit."""
