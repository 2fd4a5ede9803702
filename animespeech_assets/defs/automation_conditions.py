import dagster as dg

# Everything downstream of the reference set refreshes when one of its inputs is updated (a new
# reference set after a label change, new predictions, ...): Dagster's eager condition. Nothing
# upstream of the reference set (decoding, recognition, embeddings) carries a condition, so a
# label change never re-runs them.
REFRESH = dg.AutomationCondition.eager()
