"""The Assistants API (``client.beta``; OpenAI API reference: Assistants): assistants,
threads and their messages (``assistants``, ``threads``; request bodies in ``params``),
and runs of an assistant on a thread over the Responses runtime (``runs``)."""
