import dagster as dg

EPISODES = "episodes"

episodes = dg.DynamicPartitionsDefinition(name=EPISODES)

CHARACTERS = "characters"

# one key per character of the reference set (registered when the reference set is built)
characters = dg.DynamicPartitionsDefinition(name=CHARACTERS)
