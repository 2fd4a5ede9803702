"""Model backends: one small protocol per model kind, implementations import heavy libraries lazily."""
