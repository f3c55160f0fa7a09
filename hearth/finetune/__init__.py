"""Training side of fine-tuning: runs in its own process (torch, transformers, PEFT), never
imported by the server (docs/fine-tuning-training.md)."""
