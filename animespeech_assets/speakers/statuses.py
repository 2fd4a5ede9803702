"""The status of a line's character: one place for the values and for which ones datasets trust."""

# a human labelled the line; the prediction is within the certain / uncertain threshold; neither
CERTAIN, UNCERTAIN, UNKNOWN, LABELLED = "certain", "uncertain", "unknown", "labelled"
STATUSES = (LABELLED, CERTAIN, UNCERTAIN, UNKNOWN)
DATASET_STATUSES = (LABELLED, CERTAIN)  # the line statuses datasets trust by default
