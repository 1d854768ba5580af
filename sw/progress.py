"""Progress a person can watch: one live status line per stage, plain lines in logs.

``stage(name)`` wraps a stage. On a terminal (stderr is a TTY) a ticker thread redraws one
line every half second, ``[synth 1:23] nextpnr: routing  iter=12 overused=345``: the
stage, the time it has run, its current step and the step's latest detail. Log messages
(``echo``) clear that line, print, and let it be redrawn, so the two never interleave.

Without a terminal (CI logs, ``| tee``) nothing is redrawn: a step change prints one plain
line to stderr (``[synth 0:42] nextpnr: placing``) and a long step prints a heartbeat with
its latest detail every ``HEARTBEAT`` seconds, so a log shows the job alive without a line
per tool message.

Steps come from the stage itself (``step``) or from external tools whose output lines are
fed through ``tool_line`` (yosys' passes, nextpnr's placer and router iterations).
"""

from __future__ import annotations

import re
import shutil
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

REDRAW = 0.5  # seconds between redraws of the live line
HEARTBEAT = 30.0  # seconds between plain lines of one unchanged step
WIDTH = 110  # the live line is cut to this many characters (no wrapping)


def clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}:{secs:02d}"


class Status:
    """The live status of the stage now running; one per process (``STATUS``)."""

    def __init__(self, stream: TextIO | None = None, live: bool | None = None) -> None:
        self._stream = stream
        self._live = live
        self._lock = threading.RLock()
        self._stage = ""
        self._start = 0.0
        self._step = ""
        self._detail = ""
        self._said = 0.0  # when the last plain line was written
        self._drawn = False
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        # A job in a background thread (the early synthesis): its own step and detail,
        # shown after the foreground stage's.
        self._local = threading.local()
        self._bg = {"name": "", "start": 0.0, "step": "", "detail": ""}

    @property
    def stream(self) -> TextIO:
        return self._stream or sys.stderr

    @property
    def live(self) -> bool:
        if self._live is not None:
            return self._live
        return bool(getattr(self.stream, "isatty", lambda: False)())

    def line(self) -> str:
        head = f"[{self._stage} {clock(time.monotonic() - self._start)}]"
        step = self._step or "running"
        text = " ".join(part for part in (head, step, self._detail) if part)
        if self._bg["name"]:
            bg = self._bg
            text += f" | {bg['name']} {clock(time.monotonic() - bg['start'])}: {bg['step']}"
            text += f" {bg['detail']}" if bg["detail"] else ""
        return text[: self._width()]

    def _width(self) -> int:
        if not self.live:
            return 2 * WIDTH
        return max(40, shutil.get_terminal_size((WIDTH + 1, 24)).columns - 1)

    def _in_background(self) -> bool:
        return bool(getattr(self._local, "name", ""))

    @contextmanager
    def background(self, name: str) -> Iterator[Status]:
        """Steps reported from this thread are job ``name``'s, shown beside the stage's."""
        self._local.name = name
        with self._lock:
            self._bg.update(name=name, start=time.monotonic(), step="", detail="")
        try:
            yield self
        finally:
            self._local.name = ""
            with self._lock:
                self._bg["name"] = ""

    # ---- stage and steps

    @contextmanager
    def stage(self, name: str, ticker: bool = True) -> Iterator[Status]:
        """Status of stage ``name`` while it runs; ``ticker=False`` for a stage that draws
        its own bar on a terminal (training's tqdm): no live line of ours then, but
        heartbeat lines without a terminal (where tqdm is off) all the same."""
        with self._lock:
            self._stage, self._start, self._step, self._detail = name, time.monotonic(), "", ""
            self._said = self._start
        self._stop.clear()
        self._ticker = threading.Thread(target=self._tick, args=(ticker,), daemon=True)
        self._ticker.start()
        try:
            yield self
        finally:
            if self._ticker is not None:
                self._stop.set()
                self._ticker.join()
                self._ticker = None
            with self._lock:
                self._clear()
                self._stage = ""

    def step(self, text: str, detail: str = "") -> None:
        """A new step of the running stage (a plain line without a terminal)."""
        with self._lock:
            if self._in_background():
                changed = text != self._bg["step"]
                self._bg.update(step=text, detail=detail)
                if not self.live and changed:
                    elapsed = clock(time.monotonic() - self._bg["start"])
                    print(f"[{self._bg['name']} {elapsed}] {text}", file=self.stream, flush=True)
                return
            changed = text != self._step
            self._step, self._detail = text, detail
            if self._stage and not self.live and changed:
                self._say()

    def detail(self, text: str) -> None:
        """The current step's latest detail (in the next heartbeat line without a terminal)."""
        with self._lock:
            if self._in_background():
                self._bg["detail"] = text
            else:
                self._detail = text

    def tool_line(self, tool: str, line: str) -> None:
        """One output line of an external tool: its step and detail, if it says one."""
        step, detail = classify(tool, line)
        if step is not None:
            self.step(step, detail or "")
        elif detail:
            self.detail(detail)

    def echo(self, message: str, stream: TextIO | None = None) -> None:
        """Print a log message (stdout by default) without tearing the live line."""
        with self._lock:
            self._clear()
            print(message, file=stream or sys.stdout, flush=True)
            self._said = time.monotonic()
            if self._in_background():
                self._bg.update(step=_short(message), detail="")
            elif self._stage:
                self._detail = ""
                self._step = _short(message)

    # ---- drawing

    def _say(self) -> None:
        self._said = time.monotonic()
        print(self.line(), file=self.stream, flush=True)

    def _clear(self) -> None:
        if self._drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._drawn = False

    def _tick(self, redraw: bool) -> None:
        """Redraw the live line, or without a terminal write a heartbeat line when nothing
        was written for ``HEARTBEAT`` seconds."""
        while not self._stop.wait(REDRAW):
            with self._lock:
                if not self._stage:
                    continue
                if not self.live:
                    if time.monotonic() - self._said >= HEARTBEAT:
                        self._say()
                    continue
                if not redraw:
                    continue
                sys.stdout.flush()
                self.stream.write("\r\x1b[K" + self.line())
                self.stream.flush()
                self._drawn = True


STATUS = Status()


def _short(message: str) -> str:
    """A log message as a step: without its ``[stage]`` tag, on one line."""
    text = re.sub(r"^\[[\w-]+\]\s*", "", message.strip().splitlines()[0] if message else "")
    return text


# ---- tools' output ------------------------------------------------------------------

_YOSYS_PASS = re.compile(r"^\d+(?:\.\d+)*\.\s+Executing (\S+)")  # "2.4. Executing PROC pass (...)."
_NEXTPNR_PHASES = (
    ("placer", "placing"),
    ("Placing", "placing"),
    ("Routing", "routing"),
    ("router", "routing"),
    ("Packing", "packing"),
    ("Checksum", "packing"),
    ("timing analysis", "timing"),
)


def classify(tool: str, line: str) -> tuple[str | None, str | None]:
    """``(step, detail)`` a tool's output line announces; ``None`` where it says neither."""
    text = line.strip()
    if not text:
        return None, None
    if tool == "yosys":
        match = _YOSYS_PASS.match(text)
        return (None, f"{match.group(1)} pass") if match else (None, None)
    if tool.startswith("nextpnr"):
        body = text.removeprefix("Info:").strip()
        for needle, phase in _NEXTPNR_PHASES:
            if needle in body and not body.startswith(("at ", "iter")):
                return f"{tool}: {phase}", None
        if body.startswith(("at ", "iter", "Program", "Max frequency")):
            return None, body
        return None, None
    return None, text


# ---- the end of a run ---------------------------------------------------------------


def run_summary(metrics: dict, out) -> str:
    """Where the results are and where the time went, printed at the end of ``run``."""
    from pathlib import Path

    out = Path(out).resolve()
    seconds = metrics.get("seconds", {})
    spent = "  ".join(f"{name} {clock(t)}" for name, t in seconds.items())
    lines = [f"time {clock(sum(seconds.values()))} ({spent})"]
    fpga = metrics.get("fpga")
    if fpga:
        verdict = "met" if fpga.get("timing_met") else "NOT met"
        lines.append(f"bitstream {out / fpga['bitstream']} (timing {verdict})")
    lines.append(f"report    {out / 'report.html'}  (text: report.md; numbers: metrics.json)")
    return "\n".join(lines)
