"""Training side of fine-tuning: runs in its own process (torch, transformers, PEFT). The
server imports only ``spec`` (the typed contract both sides share; pydantic only), never
the torch modules (docs/fine-tuning-training.md)."""
