"""Training stage: adapters on the dialogue datasets and TTS samples of each character."""
