"""Durable background work: rows under a lease in the database (``store/leases.py``),
claimed and executed by one ``JobRunner`` per kind of work (eval runs, fine-tuning jobs,
and every later kind: background responses, assistant runs, ingestion, batches)."""

from hearth.jobs.runner import MAX_ATTEMPTS, JobRunner, Work

__all__ = ["MAX_ATTEMPTS", "JobRunner", "Work"]
