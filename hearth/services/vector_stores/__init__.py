"""``client.vector_stores`` and its ``files``, ``file_batches`` and ``search`` (OpenAI API
reference: Vector stores), with ingestion as durable background work (docs/retrieval.md)."""
