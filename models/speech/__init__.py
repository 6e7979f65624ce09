"""Speech: audio decoding, voices, Whisper transcription, transcripts and their store,
trust signals, and spoken-number (PII) detection."""
