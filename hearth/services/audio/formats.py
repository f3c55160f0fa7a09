"""Transcript renderings: SubRip (``srt``) and WebVTT (``vtt``) cues, one per segment,
as OpenAI's ``response_format`` values produce (SubRip: ``HH:MM:SS,mmm``; WebVTT, W3C
"WebVTT: The Web Video Text Tracks Format": ``WEBVTT`` header, ``HH:MM:SS.mmm``)."""

from __future__ import annotations

from collections.abc import Sequence

from hearth.audio.stt import Segment


def _timestamp(seconds: float, decimal: str) -> str:
    ms = max(0, round(seconds * 1000))
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{decimal}{ms:03d}"


def srt(segments: Sequence[Segment]) -> str:
    """Numbered cues from 1: ``n\\nstart --> end\\ntext\\n\\n``."""
    return "".join(
        f"{i}\n{_timestamp(s.start, ',')} --> {_timestamp(s.end, ',')}\n{s.text.strip()}\n\n"
        for i, s in enumerate(segments, start=1)
    )


def vtt(segments: Sequence[Segment]) -> str:
    """``WEBVTT`` then one ``start --> end\\ntext`` cue per segment."""
    cues = "".join(
        f"{_timestamp(s.start, '.')} --> {_timestamp(s.end, '.')}\n{s.text.strip()}\n\n"
        for s in segments
    )
    return "WEBVTT\n\n" + cues


def joined_text(segments: Sequence[Segment]) -> str:
    """The transcript's text: segments joined, outer whitespace trimmed."""
    return "".join(s.text for s in segments).strip()
