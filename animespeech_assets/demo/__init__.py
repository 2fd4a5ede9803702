"""The demo: synthetic episodes spoken by Kokoro voices, with their ground truth."""
