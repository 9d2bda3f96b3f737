"""Media: recording downloads, call recordings, voicemail, and the prompts rendered to speech."""
