"""``client.beta.realtime``: the beta Realtime API (its WebSocket is ``/v1/realtime``,
in ``hearth.api.realtime``, with the ``OpenAI-Beta: realtime=v1`` header)."""
