"""Methods: the implementations of each operation, and the one place that chooses.

An operation (``"conv2d"``, ``"max_pool2d"``, ...) has several methods. Each
`Method` declares what it supports (``supports(problem, machine)`` returns
None, or the reason it cannot run the problem) and what it is expected to
cost (``estimate(problem, machine)``: its time relative to the op's unit --
for conv2d one bare GEMM of the problem's size, the unit the benchmarks
report; for pooling the fused direct kernel). `choose` takes the
method a user forced, or under ``"auto"`` the supported method with the
lowest estimate (the first registered on a tie); `explain` reports the
choice and every alternative without running anything.

A method may also declare when its result would not be exact for the
problem's data (``exact(problem)``: None, or why not -- e.g. a weight
holding inf or NaN that the method would multiply by zero padding). Such a
method is never chosen for that problem: ``auto`` skips it, and a call
that forces it runs the ``auto`` choice instead, which `explain` shows.

A method may also be one ``auto`` never picks for a problem although it
runs it exactly (``auto_skip(problem)``: None, or why not -- e.g. a
Winograd tile size whose rounding error exceeds the bound promised for
the dtype); forcing it runs it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .machine import current_machine
from .plan import tuning

__all__ = ["Candidate", "Choice", "Method", "candidates", "check_method", "choose", "choose_here",
           "methods", "register"]


@dataclass(frozen=True)
class Method:
    """One implementation of an operation.

    Attributes
    ----------
    op : str
        The operation, named as its public function (``"conv2d"``).
    name : str
        What ``method=`` calls it (``"im2col"``).
    summary : str
        One line for users: what it does and when it pays.
    supports : callable ``(problem, machine) -> str | None``
        None if the method can run `problem` here, else why not.
    estimate : callable ``(problem, machine) -> float``
        Expected time relative to the op's unit (conv2d: the bare GEMM of
        the problem's size; pooling: the direct kernel); lower is better,
        only compared between methods of one op.
    run : callable
        The driver; its signature is the op's (see the op's module).
    exact : callable ``(problem) -> str | None``, optional
        None if the method's result is exact for `problem`'s data (the
        default), else why not: the method is then never chosen, even when
        forced (the ``auto`` choice runs instead).
    auto_skip : callable ``(problem) -> str | None``, optional
        None if ``auto`` may pick the method for `problem` (the default),
        else why not; forcing it still runs it.
    """

    op: str
    name: str
    summary: str
    supports: Callable
    estimate: Callable
    run: Callable = field(repr=False)
    exact: Callable | None = field(default=None, repr=False)
    auto_skip: Callable | None = field(default=None, repr=False)

    def unable(self, problem, machine) -> str | None:
        """Why the method cannot run `problem` exactly here, or None."""
        reason = self.supports(problem, machine)
        if reason is None and self.exact is not None:
            reason = self.exact(problem)
        return reason


@dataclass(frozen=True)
class Candidate:
    """A method considered for one problem: its estimate, or why it cannot run."""

    name: str
    estimate: float | None
    reason: str | None
    skipped: str | None = None   # why `auto` does not pick it (it runs when forced)

    @property
    def supported(self) -> bool:
        return self.reason is None


_REGISTRY: dict[str, dict[str, Method]] = {}


def register(method: Method) -> Method:
    """Add `method` to its op's methods (replacing one of the same name)."""
    _REGISTRY.setdefault(method.op, {})[method.name] = method
    return method


def methods(op: str) -> tuple[Method, ...]:
    """The methods of `op`, in registration order."""
    return tuple(_REGISTRY.get(op, {}).values())


def candidates(op: str, problem, machine) -> list[Candidate]:
    """Every method of `op` with its estimate for `problem`, or why it cannot run it."""
    out = []
    for m in methods(op):
        reason = m.unable(problem, machine)
        skipped = None if reason or m.auto_skip is None else m.auto_skip(problem)
        out.append(Candidate(m.name, None if reason else float(m.estimate(problem, machine)), reason,
                             skipped))
    return out


def check_method(op: str, method) -> str:
    """`method` lower-cased if it is ``"auto"`` or a method of `op`, else ValueError."""
    table = _REGISTRY.get(op, {})
    if not isinstance(method, str) or (method.lower() != "auto" and method.lower() not in table):
        names = ", ".join(repr(n) for n in ("auto", *table))
        raise ValueError(f"`method` must be one of {names}, got {method!r}")
    return method.lower()


def choose(op: str, problem, machine, method="auto") -> Method:
    """The method to run: the one forced by `method`, or under ``"auto"`` the
    supported method with the lowest estimate (skipping those whose
    `Method.auto_skip` gives a reason). A forced method that runs
    the problem but would not be exact for its data (`Method.exact`) gives
    way to the ``auto`` choice.

    Raises
    ------
    ValueError
        `method` is not a method of `op`, or does not support `problem`
        (the message lists the methods that do).
    """
    table = _REGISTRY.get(op, {})
    method = check_method(op, method)
    if method != "auto":
        chosen = table[method]
        reason = chosen.supports(problem, machine)
        if reason is not None:
            able = [c.name for c in candidates(op, problem, machine) if c.supported]
            raise ValueError(
                f"`method`={method!r} cannot run this {op}: {reason}; "
                f"methods that can: {', '.join(repr(n) for n in ['auto', *able])}"
            )
        if chosen.exact is None or chosen.exact(problem) is None:
            return chosen
    best = None
    for c in candidates(op, problem, machine):
        if c.supported and c.skipped is None and (best is None or c.estimate < best.estimate):
            best = c
    if best is None:  # every op registers a method that supports everything
        raise RuntimeError(f"no method of {op} supports this problem")
    return table[best.name]


def choose_here(op: str, problem, budget: int, method="auto") -> Method:
    """`choose` on the machine the call runs on now (`machine.current_machine`
    with `budget` workspace bytes), cached per (op, problem, machine, method,
    tuning): what every operation's driver calls. ValueError for an unknown
    or unsupported `method`."""
    machine = current_machine(np.dtype(problem.dtype), budget)
    if not isinstance(method, str):
        return choose(op, problem, machine, method)  # raises the ValueError
    return _choose_cached(op, problem, machine, method.lower(), tuning())


@functools.lru_cache(maxsize=1024)
def _choose_cached(op, problem, machine, method: str, tuning: tuple) -> Method:
    # `tuning` (plan.tuning()) is part of the key: a changed constant -- the
    # tests set some -- must never be served a stale choice
    return choose(op, problem, machine, method)


@dataclass(frozen=True)
class Choice:
    """Which method a call runs, and every alternative: what `explain` returns.

    Attributes
    ----------
    op : str
        The operation (``"conv2d"``).
    method : str
        The method that runs.
    requested : str
        What ``method=`` asked for (``"auto"`` or a method's name).
    problem : str
        The problem in one line (shapes, geometry, dtype, layout).
    machine : str
        What the choice read: CPU model, threads, backend, workspace budget.
    candidates : tuple of Candidate
        Every method of the op: its estimate (time relative to `unit`;
        lower is faster), or why it cannot run.
    plan : str
        How the chosen method will cut the work (tiles, workers).
    unit : str
        What the estimates are relative to (conv2d: one bare GEMM of the
        problem's size).
    """

    op: str
    method: str
    requested: str
    problem: str
    machine: str
    candidates: tuple
    plan: str
    unit: str = "bare GEMM time"

    def __str__(self) -> str:
        how = "picked by 'auto'" if self.requested == "auto" else "asked for"
        if self.requested not in ("auto", self.method):
            why = next((c.reason for c in self.candidates if c.name == self.requested), None)
            how = (f"picked by 'auto': {self.requested!r} was asked for, but {why}" if why
                   else f"picked by 'auto' instead of {self.requested!r}")
        lines = [f"{self.op}: {self.problem}",
                 f"machine: {self.machine}",
                 f"method: {self.method} ({how}); plan: {self.plan}",
                 f"candidates (estimated time / {self.unit}):"]
        for c in self.candidates:
            mark = "  <- runs" if c.name == self.method else ""
            value = f"{c.estimate:5.2f}" if c.supported else "    -"
            note = "" if c.supported else f"  cannot: {c.reason}"
            if c.supported and c.skipped:
                note = f"  not for auto: {c.skipped}"
            lines.append(f"  {c.name:<10} {value}{note}{mark}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<Choice {self.op}: {self.method} ({self.requested})>\n{self}"
