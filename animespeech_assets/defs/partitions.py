import dagster as dg

EPISODES = "episodes"

episodes = dg.DynamicPartitionsDefinition(name=EPISODES)
