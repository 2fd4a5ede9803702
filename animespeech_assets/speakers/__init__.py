"""Speaker stage: embeddings per line, annotations, the reference set, KNN predictions, evaluation, review."""
