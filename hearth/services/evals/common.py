"""What the evals services share: project-scoped lookups (404s naming the ``param``),
the model check and the check of an enum query value."""

from __future__ import annotations

from hearth.domain import Principal
from hearth.errors import InvalidRequest, ModelNotFound, NotFound
from hearth.services.chat.completions import ChatCompletions
from hearth.store.evals import EvalRepository, RunRepository
from hearth.store.models import Eval, EvalRun


def found_eval(evals: EvalRepository, caller: Principal, eval_id: str) -> Eval:
    """The caller's eval; ``NotFound`` (``param`` ``eval_id``)."""
    row = evals.get(caller.project_id, eval_id)
    if row is None:
        raise eval_not_found(eval_id)
    return row


def eval_not_found(eval_id: str) -> NotFound:
    """The 404 of an eval that is not in the caller's project."""
    return NotFound(f"No eval found with id '{eval_id}'.", param="eval_id")


def found_run(runs: RunRepository, caller: Principal, eval_id: str, run_id: str) -> EvalRun:
    """The caller's run of eval ``eval_id``; ``NotFound`` (``param`` ``run_id``)."""
    row = runs.get(caller.project_id, eval_id, run_id)
    if row is None:
        raise run_not_found(eval_id, run_id)
    return row


def run_not_found(eval_id: str, run_id: str) -> NotFound:
    """The 404 of a run that is not in eval ``eval_id`` of the caller's project."""
    return NotFound(f"No eval run found with id '{run_id}' in eval '{eval_id}'.", param="run_id")


async def check_model(chat: ChatCompletions, caller: Principal, model: str, param: str) -> None:
    """``ModelNotFound`` (404, ``param``) unless the caller's organization may use
    ``model`` (a fine-tuned model is loaded by the check: it is about to be used)."""
    try:
        await chat.check_model(caller, model)
    except ModelNotFound as exc:
        raise ModelNotFound(exc.message, param=param) from None


def one_of(value: str | None, allowed: tuple[str, ...], param: str) -> None:
    """``InvalidRequest`` (``invalid_value``) unless ``value`` is None or in ``allowed``."""
    if value is not None and value not in allowed:
        raise InvalidRequest(
            f"Invalid value for '{param}': {value!r}. Supported values are: "
            + ", ".join(f"'{a}'" for a in allowed)
            + ".",
            param=param,
            code="invalid_value",
        )
