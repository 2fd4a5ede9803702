"""animespeech_assets: anime episodes -> character speech and dialogue datasets, as Dagster assets."""
