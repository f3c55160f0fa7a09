"""The client events of a Realtime session, by family (API reference: Realtime, "Client
events"). Each module registers its handlers on its own ``EventRouter``:

- ``session_config``: ``session.update``;
- ``input_audio``: ``input_audio_buffer.append`` / ``.commit`` / ``.clear``, and the turns
  server VAD finds in the appended audio;
- ``conversation``: ``conversation.item.create`` / ``.retrieve`` / ``.truncate`` /
  ``.delete``;
- ``responses``: ``response.create`` / ``.cancel``, ``output_audio_buffer.clear``.

``router`` holds them all, in the order of OpenAI's reference.
"""

from __future__ import annotations

from hearth.services.realtime.events import EventRouter
from hearth.services.realtime.handlers import (
    conversation,
    input_audio,
    responses,
    session_config,
)

router = EventRouter()
for _family in (session_config, input_audio, conversation, responses):
    router.include(_family.router)
