"""``client.audio``: speech (text-to-speech), transcriptions and translations."""
