"""The distillation example's task: find the order number in a customer message.

A support message mentions its order number in one of several spellings ("order #48213",
"order no. 48213", "order ID 48213"...) among other numbers (prices, days, dates, phone
numbers, customer numbers). The answer is the order number in the canonical form
``ORD-48213`` and nothing else, graded with a ``string_check`` ``eq`` against
``item.expected`` (ground truth), so teacher and student are scored on the same scale.

* Teacher: ``smollm2-135m-instruct`` with a long expert system prompt and few-shot turns
  (:func:`teacher_messages`). It answers in the canonical form almost always.
* Student: the same bare model given only the raw message (:func:`student_messages`), no
  instruction. Before fine-tuning it chats about the message; it has to learn the task
  from the teacher's stored answers (prompt distillation).

Items are generated deterministically (:func:`items`): the held-out ``eval`` split and the
``train`` split never share a message or an order number, and neither shares one with the
few-shot examples.

Run ``python examples/distillation/task.py`` to print a few items, or ``--write DIR`` to
write ``eval.jsonl`` / ``train.jsonl`` (one ``{"item": {...}}`` per line, the shape of an
eval run's ``file_content`` data source).
"""

from __future__ import annotations

import argparse
import json
import random
import re
from pathlib import Path
from typing import Any, Literal

TASK = "order-id"
"""``metadata["task"]`` of the teacher's stored completions."""

TEACHER_MODEL = "smollm2-135m-instruct"
STUDENT_MODEL = "smollm2-135m-instruct"
N_EVAL = 60
"""Held-out items, scored for teacher, student before and student after fine-tuning."""
N_TRAIN = 100
"""Training prompts answered by the teacher; its answers become the fine-tuning file.
100 x 3 epochs scored 0.97-0.98 after fine-tuning; 20 x 3 epochs already 0.97-0.98."""
SEED = 7
MAX_TOKENS = 16
"""Enough for ``ORD-12345`` plus the end token; caps the bare student's chatter."""

SYSTEM_PROMPT = """\
You are an expert order-desk assistant for an online shop. Your only job is to read one \
customer message and report the order number it mentions.

How customers write order numbers:
- The order number is always the 5-digit number that comes right after the word "order".
- Customers spell it in many ways: "order 48213", "order #48213", "order number 48213", \
"order no. 48213" or "order ID 48213".

Numbers that are NOT order numbers (ignore them):
- prices and amounts ("I paid 129 dollars"),
- days, dates and waiting times ("due on May 12", "I have waited 9 days"),
- phone numbers ("555-0142"),
- customer or account numbers ("customer 5521").

How to answer:
- Write the order number in the canonical form ORD-12345: the letters ORD, a hyphen, then \
the five digits exactly as the customer wrote them.
- Write nothing else: no greeting, no sentence, no explanation, no punctuation, no quotes.
- Never apologize and never ask a question. The answer is always a single token like \
ORD-12345."""

# Hand-checked few-shot turns; their order numbers are excluded from every split.
FEW_SHOT: list[tuple[str, str]] = [
    ("Hi, I'm Nora from Leeds. My order #40917 arrived broken. I paid 89 dollars.",
     "ORD-40917"),
    ("I have waited 12 days. My order number 73358 never arrived. Please help. Ben, Austin",
     "ORD-73358"),
    ("Dear support, my order no. 15564 is late. It cost 312 euros. Best, Ivy",
     "ORD-15564"),
    ("Raj here. The order ID 98012 is missing an item! I am customer 5521.",
     "ORD-98012"),
    ("My phone is 555-0142. My order 26431 came in the wrong size. Please help. Lea, Turin",
     "ORD-26431"),
    ("Hello, charged twice? It was due on May 19. The order #61189 was charged twice. "
     "Thanks, Max", "ORD-61189"),
    ("Hi, I'm Ana from Braga. My order 37720 was sent to the wrong address. "
     "I have waited 6 days.", "ORD-37720"),
    ("Dear support, my order ID 84403 never arrived. I paid 175 dollars. Best, Sam",
     "ORD-84403"),
]

GRADER: dict[str, Any] = {
    "type": "string_check",
    "name": "order id exact",
    "input": "{{sample.output_text}}",
    "reference": "{{item.expected}}",
    "operation": "eq",
}
"""The eval's ``testing_criteria[0]``: exact match against the ground truth."""

ITEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"input": {"type": "string"}, "expected": {"type": "string"}},
    "required": ["input", "expected"],
}
"""The eval's ``data_source_config`` ``{"type": "custom", "item_schema": ...}``."""

_NAMES = ["Maria", "John", "Aisha", "Kenji", "Lucas", "Priya", "Tom", "Elena", "Omar",
          "Sofia", "Chen", "Fatima", "Hugo", "Mia", "Ravi", "Zoe"]
_CITIES = ["Denver", "Lyon", "Osaka", "Lima", "Oslo", "Cairo", "Austin", "Porto", "Quito",
           "Seoul", "Dublin", "Perth"]
_PROBLEMS = ["arrived broken", "never arrived", "is missing an item", "was charged twice",
             "came in the wrong size", "is late", "was sent to the wrong address",
             "arrived without the charger"]
_SPELLINGS = ["order {o}", "order #{o}", "order number {o}", "order no. {o}", "order ID {o}"]
_EXTRAS = ["I paid {p} dollars.", "It was due on May {d}.", "I have waited {d} days.",
           "My phone is 555-0{p}.", "I am customer {c}.", "It cost {p} euros.", ""]
_TEMPLATES = [
    "Hi, I'm {name} from {city}. My {order} {problem}. {extra}",
    "Hello, {short}? {extra} The {order} {problem}. Thanks, {name}",
    "{extra} My {order} {problem}. Please help. {name}, {city}",
    "Dear support, my {order} {problem}. {extra} Best, {name}",
    "{name} here. The {order} {problem}! {extra}",
]
_RESERVED = {int(answer[4:]) for _, answer in FEW_SHOT}


def _message(rng: random.Random, order_id: int) -> str:
    problem = rng.choice(_PROBLEMS)
    extra = rng.choice(_EXTRAS).format(p=rng.randint(20, 400), d=rng.randint(2, 28),
                                       c=rng.randint(1000, 9999))
    text = rng.choice(_TEMPLATES).format(
        name=rng.choice(_NAMES), city=rng.choice(_CITIES), extra=extra, problem=problem,
        short=re.sub(r"^(is|was) ", "", rng.choice(_PROBLEMS)),
        order=rng.choice(_SPELLINGS).format(o=order_id))
    return " ".join(text.split())


def items(split: Literal["eval", "train"], n: int | None = None) -> list[dict[str, str]]:
    """``[{"input": message, "expected": "ORD-12345"}, ...]`` for ``split``.

    ``eval`` has :data:`N_EVAL` items and ``train`` :data:`N_TRAIN` unless ``n`` is given
    (``eval`` takes at most :data:`N_EVAL`). The same seed always gives the same items, and
    a longer ``train`` list starts with the shorter one.
    """
    if split not in ("eval", "train"):
        raise ValueError(f"split must be 'eval' or 'train', not {split!r}")
    rng = random.Random(SEED)
    # One pool of distinct ids: eval takes the first N_EVAL, train the rest (up to 1000).
    pool = [i for i in rng.sample(range(10000, 100000), N_EVAL + 1000 + len(_RESERVED))
            if i not in _RESERVED][:N_EVAL + 1000]
    ids = pool[:N_EVAL] if split == "eval" else pool[N_EVAL:]
    count = min(n if n is not None else N_EVAL, N_EVAL) if split == "eval" else (
        n if n is not None else N_TRAIN)
    text_rng = random.Random(f"{SEED}-{split}")
    return [{"input": _message(text_rng, order_id), "expected": f"ORD-{order_id}"}
            for order_id in ids[:count]]


def teacher_messages(text: str) -> list[dict[str, str]]:
    """The teacher's chat: expert system prompt, few-shot turns, then the message."""
    shots: list[dict[str, str]] = []
    for question, answer in FEW_SHOT:
        shots += [{"role": "user", "content": question},
                  {"role": "assistant", "content": answer}]
    return [{"role": "system", "content": SYSTEM_PROMPT}, *shots,
            {"role": "user", "content": text}]


def student_messages(text: str) -> list[dict[str, str]]:
    """The student's chat, before and after fine-tuning: the raw message only."""
    return [{"role": "user", "content": text}]


def input_messages(role: Literal["teacher", "student"]) -> list[dict[str, str]]:
    """An eval run's ``input_messages.template`` for ``role``, with ``{{item.input}}``."""
    make = teacher_messages if role == "teacher" else student_messages
    return make("{{item.input}}")


def score(output: str, item: dict[str, str]) -> float:
    """What :data:`GRADER` gives: 1.0 when ``output`` equals ``item["expected"]``, else 0."""
    return 1.0 if output == item["expected"] else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--write", type=Path, help="write eval.jsonl and train.jsonl here")
    parser.add_argument("--train", type=int, default=N_TRAIN, help="training items")
    args = parser.parse_args()
    splits = {"eval": items("eval"), "train": items("train", args.train)}
    if args.write:
        args.write.mkdir(parents=True, exist_ok=True)
        for name, rows in splits.items():
            lines = [json.dumps({"item": row}) for row in rows]
            (args.write / f"{name}.jsonl").write_text("\n".join(lines) + "\n")
            print(f"wrote {len(rows)} items to {args.write / f'{name}.jsonl'}")
        return
    for name, rows in splits.items():
        print(f"{name}: {len(rows)} items, e.g.")
        for row in rows[:3]:
            print(f"  {row['input']!r} -> {row['expected']}")


if __name__ == "__main__":
    main()
