"""The tools: the model (tooldef), built from the spec (catalog), filtered (allowlist), shown (profiles)."""
