"""The fine-tuning API: jobs, events, checkpoints; training runs in a worker process
(``hearth.finetune``) and its models are served by the engine (docs/fine-tuning.md)."""
