"""Fine-tuned models as the engine sees them (``engine.registry.ModelCatalog``): ids ->
model files, per organization."""

from __future__ import annotations

from pathlib import Path

from hearth.engine.registry import ExtraModel
from hearth.finetune.spec import STATE
from hearth.store.fine_tuning import FineTuningStore


class Catalog:
    """Resolves ``ft:...`` ids (final models and ``:ckpt-step-<N>`` checkpoints)."""

    def __init__(self, store: FineTuningStore, data_dir: Path) -> None:
        self.store = store
        self._data_dir = data_dir

    def resolve(self, model_id: str) -> ExtraModel | None:
        """The servable model file for a fine-tuned model or checkpoint id."""
        if not model_id.startswith("ft:"):
            return None
        found = self.store.find_model(model_id)
        if found is None:
            return None
        job, rel = found
        path = self._data_dir / rel
        if not path.is_file():
            return None
        # a remote base's upstream loads the PEFT adapter beside the model (shared storage)
        return ExtraModel(
            model_id,
            path,
            job.organization_id,
            job.finished_at or job.created_at,
            base=job.model,
            adapter=str(path.parent / STATE),
        )

    def list(self, organization_id: str) -> list[ExtraModel]:
        """The organization's fine-tuned models (checkpoints are served but not listed,
        as on OpenAI)."""
        return [
            ExtraModel(
                j.fine_tuned_model or "",
                self._data_dir / (j.model_path or ""),
                j.organization_id,
                j.finished_at or j.created_at,
            )
            for j in self.store.models(organization_id)
        ]

    def delete(self, model_id: str, organization_id: str) -> bool:
        """Delete a fine-tuned model (its job stays); False if not this org's model."""
        found = self.store.find_model(model_id)
        if found is None or found[0].organization_id != organization_id:
            return False
        job, rel = found
        if job.fine_tuned_model == model_id:
            self.store.update_job(job.id, model_path=None)
        (self._data_dir / rel).unlink(missing_ok=True)
        return True
