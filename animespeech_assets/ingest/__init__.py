"""Ingest stage: episodes and their files, audio decoding, subtitles, speech-recognition segmentation."""
