"""The Evals API: evals, graders, and runs executed in the background (docs/evals.md)."""
