"""``labkit drill``: interview questions one at a time, the answer hidden until you have said yours, and numbers
to predict before the lab's measurement is shown.

Two kinds of card:

* a **question** from the catalogue (:func:`labkit.report.answers.catalogue`): you answer aloud or type, press
  Enter, read the 30-second answer, its follow-ups and the number to quote, and mark it known or not;
* a **prediction**: one of the guide's numeric claims (say "salting: 10 min → 2 min, 5x"). You type the ratio you
  expect on this machine; then the measured figure, the guide's and the verdict are shown. Folklore numbers
  rarely survive measurement: this is where a candidate feels it.

Missed cards come back sooner: a Leitner schedule (box 0 is due now; a card known in box *b* moves to *b* + 1 and
is due in 2^b days; a miss sends it back to box 0), kept in a small JSON file (``--state``, default
``~/.cache/labkit/drill.json``). The terminal is drawn by ``rich``; every prompt reads standard input, so a script
can drive it (the tests do).
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from labkit.report.answers import Question, catalogue, numbers_to_quote, run_setting
from labkit.report.claims import Claim, _fmt, evaluate, load_registry
from labkit.report.html import load_runs
from labkit.report.model import NOTEBOOKS

__all__ = ["STATE", "Card", "Schedule", "cards", "drill"]

STATE = Path.home() / ".cache" / "labkit" / "drill.json"
_PREDICTABLE = ("x",)  # units a person can predict as one ratio


@dataclass(frozen=True)
class Card:
    """One thing to drill: a catalogue question (``kind="question"``) or a claim to predict (``"predict"``)."""

    id: str
    kind: str
    topic: str  # the notebook's two-digit prefix
    question: Question | None = None
    claim: Claim | None = None
    measured: float | None = None
    verdict: str = ""


class Schedule:
    """The Leitner boxes of every card seen, read from and saved to one JSON file."""

    def __init__(self, path: str | Path, today: date | None = None) -> None:
        self.path, self.today = Path(path), today or date.today()
        self.state: dict[str, Any] = {"cards": {}, "predictions": []}
        if self.path.exists():
            try:
                loaded = json.loads(self.path.read_text(encoding="utf-8"))
            except ValueError as exc:
                raise ValueError(f"{self.path} is not a drill state file ({exc}); move it away or pass "
                                 "--state") from None
            if not isinstance(loaded, dict) or not isinstance(loaded.get("cards"), dict):
                raise ValueError(f"{self.path} is not a drill state file (no 'cards'); move it away or pass --state")
            self.state = {"predictions": [], **loaded}

    def due(self, card_id: str) -> date:
        """When a card is due: today for a card never seen."""
        seen = self.state["cards"].get(card_id)
        return date.fromisoformat(seen["due"]) if seen else self.today

    def mark(self, card_id: str, known: bool) -> None:
        """Known: one box up, due in 2^box days. Missed: box 0, due today."""
        box = self.state["cards"].get(card_id, {}).get("box", 0)
        box = box + 1 if known else 0
        due = self.today + timedelta(days=2 ** (box - 1)) if known else self.today
        self.state["cards"][card_id] = {"box": box, "due": due.isoformat()}

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.state, indent=1) + "\n", encoding="utf-8")
        tmp.replace(self.path)


def cards(results: Mapping[str, Mapping[str, Any] | None], notebook_dir: str | Path = NOTEBOOKS,
          topic: str | None = None) -> list[Card]:
    """Every question card, and a prediction card for each ratio claim the results measured.

    Parameters
    ----------
    results : dict
        Notebook name to its results document.
    notebook_dir : path
    topic : str, optional
        A notebook prefix (``"02"``): only its cards.
    """
    present = {p.stem for p in Path(notebook_dir).glob("[0-9][0-9]_*.ipynb")}
    out = [Card(f"q:{q.id}", "question", q.notebook[:2], question=q) for q in catalogue(notebook_dir)]
    registry = [c for c in load_registry() if c.unit in _PREDICTABLE and c.compare != "criterion"]
    table = evaluate(registry, results, present).set_index("id") if registry else None
    for c in registry:
        got = (results.get(c.notebook) or {}).get("results", {}).get(c.key, {})
        if isinstance(got.get("value"), (int, float)):
            out.append(Card(f"p:{c.id}", "predict", c.notebook[:2], claim=c, measured=float(got["value"]),
                            verdict=str(table.loc[c.id, "verdict"])))
    if topic:
        out = [c for c in out if c.topic == topic.zfill(2)[:2]]
    return out


def _pick(all_cards: Sequence[Card], schedule: Schedule, count: int, seed: int | None) -> list[Card]:
    """Due cards, the longest overdue first (never-seen ones in random order among them), at most ``count``."""
    rng = random.Random(seed)
    due = [c for c in all_cards if schedule.due(c.id) <= schedule.today]
    rng.shuffle(due)
    due.sort(key=lambda c: schedule.due(c.id))
    return due[:count]


def _ask_question(console, card: Card, results, setting: str) -> bool:
    from rich.markdown import Markdown
    from rich.panel import Panel
    from rich.prompt import Confirm, Prompt

    q = card.question
    console.print(Panel(q.question, title=f"question · notebook {q.notebook}", border_style="cyan"))
    Prompt.ask("Say or type your answer, then press Enter", default="", show_default=False, console=console)
    console.print(Panel(Markdown(q.answer), title="the 30-second answer", border_style="green"))
    for n in numbers_to_quote(q, results.get(q.notebook), setting):
        note = f" — {n['note']}" if n["note"] else ""
        console.print(f"[bold]number to quote[/bold] {n['key']}: {n['text']}{note}")
    for f, a in q.followups:
        console.print(Panel(Markdown(a), title=f"follow-up: {f}", border_style="blue"))
    return Confirm.ask("Did you know it?", console=console)


def _ask_prediction(console, card: Card, schedule: Schedule) -> bool:
    from rich.panel import Panel
    from rich.prompt import FloatPrompt

    c = card.claim
    console.print(Panel(f"{c.quote}\n\nthe guide states: {c.stated_text}", title=f"predict · notebook {c.notebook}",
                        border_style="magenta"))
    guess = FloatPrompt.ask("What ratio do you expect on this machine (e.g. 3.5 for 3.5x)?", console=console)
    console.print(f"measured here: [bold]{_fmt(card.measured, c.unit)}[/bold]; the guide: {c.stated_text}; "
                  f"verdict: [bold]{card.verdict}[/bold]")
    off = abs(guess - card.measured) / abs(card.measured) if card.measured else float("inf")
    schedule.state["predictions"].append({"claim": c.id, "guess": guess, "measured": card.measured,
                                          "date": schedule.today.isoformat()})
    known = off <= 0.25
    console.print(f"your guess {guess:g}x is {'within' if known else 'more than'} 25% of the measurement")
    return known


def drill(results_dir: str | Path, state: str | Path = STATE, topic: str | None = None, count: int = 10,
          seed: int | None = None, kind: str | None = None, console=None) -> dict[str, int]:
    """Drill the due cards of a run's results; save the schedule after every card.

    Parameters
    ----------
    results_dir : path
        A report run or the reference (``NN.json`` results and ``run.json``, or the notebooks' results only).
    state : path
        The schedule file.
    topic : str, optional
        A notebook prefix, e.g. ``"02"``.
    count : int
        Cards at most.
    seed : int, optional
        The order of never-seen cards (random by default).
    kind : {"question", "predict"}, optional
        Only that kind of card (default: both).
    console : rich.console.Console, optional

    Returns
    -------
    dict
        ``shown``, ``known``, ``missed``, ``due_left``.

    Raises
    ------
    ValueError
        For a count below 1, an unknown kind, a topic no notebook has, or a state file that is not one.
    """
    from rich.console import Console

    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    if kind not in (None, "question", "predict"):
        raise ValueError(f"kind must be 'question' or 'predict', got {kind!r}")
    results_dir = Path(results_dir)
    results = load_runs(results_dir)
    meta_file = results_dir / "run.json"
    meta = json.loads(meta_file.read_text(encoding="utf-8")) if meta_file.exists() else {}
    env = meta.get("environment") or next((r["environment"] for r in results.values() if r), {})
    setting = run_setting(meta.get("scale") or next((r["parameters"].get("scale", "?") for r in results.values()
                                                     if r), "?"), env)
    all_cards = [c for c in cards(results, topic=topic) if kind in (None, c.kind)]
    if topic and not all_cards:
        raise ValueError(f"no cards for topic {topic!r}: notebooks are 00 to "
                         f"{max(p.stem[:2] for p in NOTEBOOKS.glob('[0-9][0-9]_*.ipynb'))}")
    console = console or Console()
    schedule = Schedule(state)
    chosen = _pick(all_cards, schedule, count, seed)
    tally = {"shown": 0, "known": 0, "missed": 0}
    console.print(f"{len(chosen)} of {len(all_cards)} cards due; numbers from {setting}. Ctrl-D stops.")
    try:
        for card in chosen:
            known = (_ask_question(console, card, results, setting) if card.kind == "question"
                     else _ask_prediction(console, card, schedule))
            schedule.mark(card.id, known)
            schedule.save()
            tally["shown"] += 1
            tally["known" if known else "missed"] += 1
    except (EOFError, KeyboardInterrupt):
        console.print("\nstopped; what you marked is saved")
    due_left = sum(schedule.due(c.id) <= schedule.today for c in all_cards)
    console.print(f"shown {tally['shown']}: known {tally['known']}, missed {tally['missed']} "
                  f"(missed ones are due again today); {due_left} due now. Schedule: {schedule.path}")
    return {**tally, "due_left": due_left}
