"""Speech models and audio codecs, framework-free: ``codecs`` (PyAV/FFmpeg), ``tts``
(Piper), ``stt`` (faster-whisper), ``slots`` (lazy load, idle unload, bounded workers)."""
