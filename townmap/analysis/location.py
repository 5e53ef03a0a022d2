"""Choosing k plant sites and assigning factories to them: the numbers only.

The problem: each factory ``i`` either joins an open plant ``j`` at cost ``cost[i, j]``
(its trunk sewer, pumping, and the plant's running cost for its flow) or stays on its own
treatment at cost ``own[i]``; exactly ``k`` plants open, each at ``fixed[j]``; optionally
each plant takes at most ``capacity[j]`` of the factories' ``demand``.

How it is solved (measured in ``tests/benchmarks/test_siting_speed.py``; MIP-building libraries
such as spopt cannot even build the county-size model in memory):

1. **Heuristic** — greedy opening from several starts, improved by vertex substitution
   (Teitz–Bart swaps, evaluated for all candidates at once with best/second-best costs).
2. **Lower bound** — Lagrangian relaxation of the assignment constraints with subgradient
   steps. When bound and solution meet (within ``tol``) the solution is **certified
   optimal**; otherwise the gap is reported.
3. **Exact fallback** — if a gap remains, or plants have capacities, the mixed-integer
   model is given to HiGHS (``scipy.optimize.milp``) with a time limit. Its status is read
   from HiGHS itself: a run stopped by the time limit is reported as such, with its gap,
   never as optimal.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp

OPTIMAL, FEASIBLE, TIME_LIMIT, INFEASIBLE = "optimal", "feasible", "time_limit", "infeasible"


@contextlib.contextmanager
def _quiet_stdout():
    """Send file descriptor 1 to /dev/null for the duration (C libraries write there)."""
    try:
        sys.stdout.flush()
        saved = os.dup(1)
    except (OSError, ValueError, AttributeError):
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


@dataclass
class Problem:
    cost: np.ndarray  # (n, m): factory i served by candidate j; inf where not allowed
    own: np.ndarray  # (n,): factory i on its own treatment; inf = must connect
    fixed: np.ndarray  # (m,): opening a plant at candidate j
    k: int
    demand: np.ndarray | None = None  # (n,) m³/d, with capacities
    capacity: np.ndarray | None = None  # (m,) m³/d
    multipliers: np.ndarray | None = None  # the Lagrangian's best, once computed

    def __post_init__(self) -> None:
        self.cost = np.asarray(self.cost, dtype="float64")
        n, m = self.cost.shape
        self.own = np.asarray(self.own, dtype="float64").reshape(n)
        self.fixed = np.asarray(self.fixed, dtype="float64").reshape(m)
        if not 1 <= self.k <= m:
            raise ValueError(f"k must be between 1 and the number of candidates ({m})")
        if np.isnan(self.cost).any() or np.isnan(self.own).any() or (self.cost < 0).any():
            raise ValueError("costs must be numbers ≥ 0 (inf where a link is not allowed)")
        if self.capacity is not None:
            self.capacity = np.asarray(self.capacity, dtype="float64").reshape(m)
            self.demand = np.asarray(self.demand, dtype="float64").reshape(n)

    @property
    def capacitated(self) -> bool:
        return self.capacity is not None


@dataclass
class Solution:
    open: np.ndarray  # candidate indices of the open plants
    assign: np.ndarray  # (n,): candidate index, or -1 for own treatment
    objective: float
    lower_bound: float
    status: str  # optimal / feasible / time_limit / infeasible
    method: str
    seconds: float
    notes: list[str] = field(default_factory=list)

    @property
    def gap(self) -> float:
        """Relative gap between the solution and the proven lower bound (0 = optimal)."""
        if not np.isfinite(self.objective):
            return float("inf")
        return max(0.0, self.objective - self.lower_bound) / max(abs(self.objective), 1e-9)

    @property
    def proven_optimal(self) -> bool:
        return self.status == OPTIMAL


def evaluate(problem: Problem, open_idx, assign=None) -> tuple[float, np.ndarray]:
    """Objective of an open set; without ``assign``, every factory takes its cheapest
    option (optimal for the uncapacitated problem)."""
    open_idx = np.asarray(open_idx, dtype=int)
    if assign is None:
        sub = problem.cost[:, open_idx]
        choice = np.argmin(sub, axis=1)
        best = sub[np.arange(len(sub)), choice]
        own = problem.own < best
        assign = np.where(own, -1, open_idx[choice])
        paid = np.where(own, problem.own, best)
    else:
        rows = np.arange(len(assign))
        paid = np.where(assign < 0, problem.own, problem.cost[rows, np.maximum(assign, 0)])
    return float(paid.sum() + problem.fixed[open_idx].sum()), assign


def _best_two(problem: Problem, open_idx: np.ndarray):
    """Per factory: cheapest and second-cheapest option among the open plants and own."""
    sub = np.column_stack([problem.cost[:, open_idx], problem.own])
    order = np.argpartition(sub, 1, axis=1)[:, :2] if sub.shape[1] > 1 else None
    rows = np.arange(len(sub))
    first = order[:, 0]
    a, b = sub[rows, order[:, 0]], sub[rows, order[:, 1]]
    swap = b < a
    first = np.where(swap, order[:, 1], order[:, 0])
    return np.minimum(a, b), np.maximum(a, b), first  # first == len(open_idx): own


def greedy(problem: Problem, start: np.ndarray | None = None) -> np.ndarray:
    """Open plants one at a time, each time the one that saves most."""
    best = problem.own.copy()
    chosen = [] if start is None else list(start)
    for j in chosen:
        best = np.minimum(best, problem.cost[:, j])
    while len(chosen) < problem.k:
        saving = np.maximum(
            best[:, None] - problem.cost,
            0,
            where=np.isfinite(best)[:, None],
            out=np.zeros_like(problem.cost),
        )
        if not np.isfinite(best).all():  # factories nobody serves yet count most
            cover = np.isfinite(problem.cost) & ~np.isfinite(best)[:, None]
            saving = saving + cover * 1e12
        gain = saving.sum(axis=0) - problem.fixed
        gain[chosen] = -np.inf
        j = int(np.argmax(gain))
        chosen.append(j)
        best = np.minimum(best, problem.cost[:, j])
    return np.array(chosen, dtype=int)


def swap_improve(problem: Problem, open_idx: np.ndarray, max_sweeps: int = 50) -> np.ndarray:
    """Vertex substitution: swap an open plant for a closed one while that lowers cost."""
    open_idx = np.array(open_idx, dtype=int)
    current, _ = evaluate(problem, open_idx)
    for _ in range(max_sweeps):
        improved = False
        for p in range(len(open_idx)):
            a, b, first = _best_two(problem, open_idx)
            keep = np.where(first == p, b, a)  # cost if plant p closes
            totals = np.minimum(problem.cost, keep[:, None]).sum(axis=0)
            fixed_rest = problem.fixed[open_idx].sum() - problem.fixed[open_idx[p]]
            totals = totals + problem.fixed + fixed_rest
            totals[open_idx] = np.inf
            j = int(np.argmin(totals))
            if totals[j] < current - 1e-9 * max(abs(current), 1.0):
                open_idx[p] = j
                current = float(totals[j])
                improved = True
        if not improved:
            break
    return open_idx


def lagrangian(
    problem: Problem,
    open_idx: np.ndarray,
    upper: float,
    *,
    iterations: int = 3000,
    tol: float = 1e-6,
    deadline=None,
    repair_every: int = 25,
    lam0: np.ndarray | None = None,
) -> tuple[float, np.ndarray, float]:
    """Lower bound from relaxing 'each factory is served once' (subgradient steps), and —
    a Lagrangian heuristic — the best open set found by repairing the relaxed solutions
    with swaps. Returns (bound, open set, its objective)."""
    cost = problem.cost
    k = problem.k
    if lam0 is None:
        lam = np.minimum(np.min(cost, axis=1), problem.own)
        lam = np.where(np.isfinite(lam), lam, upper)
        theta = 2.0
    else:
        lam, theta = lam0.copy(), 0.5
    bound, stale = -np.inf, 0
    best_open, tried = np.array(open_idx), {tuple(sorted(open_idx))}
    best_lam = lam.copy()
    for it in range(iterations):
        reduced = np.minimum(cost - lam[:, None], 0.0)
        rho = problem.fixed + reduced.sum(axis=0)
        chosen = np.argpartition(rho, k - 1)[:k]
        own_part = np.minimum(problem.own - lam, 0.0)
        value = float(lam.sum() + own_part.sum() + rho[chosen].sum())
        if not np.isfinite(bound) or value > bound + 1e-12 * max(abs(bound), 1.0):
            bound, stale, best_lam = value, 0, lam.copy()
        else:
            stale += 1
            if stale >= 40:
                theta, stale = theta / 2, 0
        key = tuple(sorted(chosen.tolist()))
        if it % repair_every == 0 and key not in tried:  # the relaxed plants, repaired
            tried.add(key)
            repaired = swap_improve(problem, chosen)
            candidate, _ = evaluate(problem, repaired)
            if candidate < upper - 1e-9 * max(abs(upper), 1.0):
                upper, best_open = candidate, repaired
        if upper - bound <= tol * max(abs(upper), 1.0) or theta < 1e-6:
            break
        if deadline is not None and time.perf_counter() > deadline:
            break
        served = (reduced[:, chosen] < 0).sum(axis=1) + (own_part < 0)
        g = 1.0 - served
        norm = float(g @ g)
        if norm == 0:
            break  # the relaxed solution is feasible: the bound is the optimum
        lam = lam + theta * 1.05 * (upper - value) / norm * g
    problem.multipliers = best_lam  # kept for reduced-cost fixing
    return min(bound, upper), best_open, upper


def fix_candidates(problem: Problem, bound: float, upper: float, tol: float):
    """Reduced-cost fixing with the best multipliers: a candidate whose opening would lift
    the Lagrangian bound above the best known cost is closed for good; one whose closing
    would is open for good. Both are proofs, so the smaller model stays exact."""
    lam = problem.multipliers
    rho = problem.fixed + np.minimum(problem.cost - lam[:, None], 0.0).sum(axis=0)
    own_part = np.minimum(problem.own - lam, 0.0).sum()
    order = np.argsort(rho, kind="stable")
    k = problem.k
    base = float(lam.sum() + own_part + rho[order[:k]].sum())
    limit = upper + tol * max(abs(upper), 1.0)
    kth = rho[order[k - 1]]
    nxt = rho[order[k]] if len(order) > k else np.inf
    closed = np.zeros(len(rho), dtype=bool)
    closed[order[k:]] = base + rho[order[k:]] - kth > limit
    forced = np.zeros(len(rho), dtype=bool)
    forced[order[:k]] = base - rho[order[:k]] + nxt > limit
    return closed, forced


def lagrangian_bound(problem: Problem, upper: float, **kwargs) -> float:
    """Only the lower bound (the capacitated model uses the uncapacitated bound)."""
    start = greedy(problem)
    return lagrangian(problem, start, upper, **kwargs)[0]


def _mip(problem: Problem, time_limit: float, neighbours: int | None, tol: float):
    """The model for HiGHS: y_j open, x_ij served, s_i own treatment.

    With ``neighbours`` = K, factory i may only join its K cheapest candidates; its "own"
    option then costs min(own_i, its (K+1)-th cheapest link) — no assignment outside the K
    costs less, so this restricted model is a relaxation of the full one: its bound is a
    bound of the full problem, and a solution that uses no such slack is optimal for it.
    """
    n, m = problem.cost.shape
    allowed = np.isfinite(problem.cost)
    own_cost = problem.own.copy()
    slack = np.zeros(n, dtype=bool)
    if neighbours is not None and neighbours < m:  # keep each factory's cheapest options
        order = np.argpartition(problem.cost, neighbours, axis=1)
        nearest = order[:, :neighbours]
        keep = np.zeros_like(allowed)
        keep[np.arange(n)[:, None], nearest] = True
        allowed &= keep
        outside = np.where(keep, np.inf, problem.cost).min(axis=1)
        slack = outside < own_cost
        own_cost = np.minimum(own_cost, outside)
    ii, jj = np.nonzero(allowed)
    nx = len(ii)
    own_ok = np.isfinite(own_cost)
    ns = int(own_ok.sum())
    own_rows = np.flatnonzero(own_ok)
    c = np.concatenate([problem.fixed, problem.cost[ii, jj], own_cost[own_ok]])
    nvar = m + nx + ns
    x0, s0 = m, m + nx
    # each factory once: sum_j x_ij + s_i = 1
    rows = np.concatenate([ii, own_rows])
    cols = np.concatenate([x0 + np.arange(nx), s0 + np.arange(ns)])
    assign = sparse.csr_array((np.ones(len(rows)), (rows, cols)), shape=(n, nvar))
    # x_ij <= y_j
    xs = x0 + np.arange(nx)
    link = sparse.csr_array(
        (
            np.concatenate([np.ones(nx), -np.ones(nx)]),
            (np.concatenate([np.arange(nx), np.arange(nx)]), np.concatenate([xs, jj])),
        ),
        shape=(nx, nvar),
    )
    count = sparse.csr_array((np.ones(m), (np.zeros(m, dtype=int), np.arange(m))), shape=(1, nvar))
    cons = [
        LinearConstraint(assign, 1, 1),
        LinearConstraint(link, -np.inf, 0),
        LinearConstraint(count, problem.k, problem.k),
    ]
    if problem.capacitated:
        cap = sparse.csr_array(
            (
                np.concatenate([problem.demand[ii], -problem.capacity]),
                (np.concatenate([jj, np.arange(m)]), np.concatenate([xs, np.arange(m)])),
            ),
            shape=(m, nvar),
        )
        cons.append(LinearConstraint(cap, -np.inf, 0))
    with _quiet_stdout():  # HiGHS prints debugging lines from C, whatever disp says
        res = milp(
            c,
            constraints=cons,
            # for fixed plants the cheapest assignment is integral by itself: only the plants
            # (and, with capacities, single-sourcing) need integer variables
            integrality=np.concatenate(
                [np.ones(m), np.full(nvar - m, 1 if problem.capacitated else 0)]
            ),
            bounds=Bounds(0, 1),
            options={"time_limit": max(time_limit, 0.1), "disp": False, "mip_rel_gap": tol},
        )
    used_slack = False
    if res.x is not None:
        s_val = np.zeros(n)
        s_val[own_rows] = res.x[s0 : s0 + ns]
        used_slack = bool((s_val[slack] > 1e-6).any())
    return res, (ii, jj, x0, own_rows, s0), used_slack


def _exact(problem: Problem, deadline: float, tol: float):
    """HiGHS on ever larger neighbour lists until the slack is unused (then exact)."""
    m = problem.cost.shape[1]
    size = min(m, max(2 * problem.k, 10))
    best_bound, last = -np.inf, None
    while True:
        remaining = deadline - time.perf_counter()
        if remaining <= 0.2:
            return last, best_bound, False
        res, parts, used_slack = _mip(problem, remaining, size if size < m else None, tol)
        dual = getattr(res, "mip_dual_bound", None)
        if dual is not None and np.isfinite(dual):
            best_bound = max(best_bound, float(dual))
        if not used_slack and res.x is not None:
            return (res, parts), best_bound, res.status == 0
        if res.status == 1 or size >= m:  # out of time, or nothing left to add
            return last, best_bound, False
        size = min(m, size * 2)


def _from_mip(problem, res, ii, jj, x0, own_rows, s0):
    n, m = problem.cost.shape
    x = res.x
    open_idx = np.flatnonzero(x[:m] > 0.5)
    assign = np.full(n, -2, dtype=int)
    taken = x[x0 : x0 + len(ii)] > 0.5
    assign[ii[taken]] = jj[taken]
    own = x[s0 : s0 + len(own_rows)] > 0.5
    assign[own_rows[own]] = -1
    return open_idx, assign


def solve(
    problem: Problem,
    *,
    time_limit: float = 30.0,
    tol: float = 1e-6,
    starts: int = 6,
    seed: int = 0,
) -> Solution:
    """Best plant set and assignment, with a proven bound and an honest status."""
    t0 = time.perf_counter()
    deadline = t0 + time_limit
    m = problem.cost.shape[1]
    rng = np.random.default_rng(seed)
    best_open, best_value = None, np.inf
    for s in range(starts):
        start = (
            None
            if s == 0
            else rng.choice(m, size=min(problem.k, max(1, problem.k // 2)), replace=False)
        )
        candidate = swap_improve(problem, greedy(problem, start))
        value, _ = evaluate(problem, candidate)
        if value < best_value:
            best_open, best_value = candidate, value
        if time.perf_counter() > deadline:
            break
    notes: list[str] = []
    value, assign = evaluate(problem, best_open)
    if problem.capacitated:
        return _capacitated(problem, best_open, value, t0, deadline, tol, notes)
    bound, best_open, value = lagrangian(
        problem, best_open, value, tol=tol, deadline=deadline, iterations=400, repair_every=50
    )
    value, assign = evaluate(problem, best_open)
    solution = Solution(
        np.sort(best_open),
        assign,
        value,
        min(bound, value),
        FEASIBLE,
        "greedy+swap, Lagrangian bound",
        time.perf_counter() - t0,
        notes,
    )
    if solution.gap <= tol:
        solution.status = OPTIMAL  # the bound meets the solution: certified
    else:
        _reduce_and_prove(problem, solution, deadline, tol)
    solution.seconds = time.perf_counter() - t0
    return solution


def _reduce_and_prove(problem: Problem, solution: Solution, deadline: float, tol: float) -> None:
    """Close the gap: drop the candidates the bound proves useless, tighten the bound on
    what is left, and let HiGHS finish the (now small) exact model."""
    keep = np.arange(problem.cost.shape[1])
    sub, lam = problem, problem.multipliers
    bound = solution.lower_bound
    for _ in range(6):
        closed, _forced = fix_candidates(sub, bound, solution.objective, tol)
        if not closed.any() and keep.size < problem.cost.shape[1]:
            break
        keep = keep[~closed]
        sub = Problem(problem.cost[:, keep], problem.own, problem.fixed[keep], problem.k)
        local = np.searchsorted(keep, solution.open)
        inside = np.isin(solution.open, keep)
        start = local[inside] if inside.all() else greedy(sub)
        b, opened, value = lagrangian(
            sub,
            start,
            solution.objective,
            tol=tol,
            deadline=deadline,
            iterations=3000,
            lam0=lam,
        )
        lam = sub.multipliers
        bound = max(bound, b)
        if value < solution.objective - 1e-9 * abs(solution.objective):
            solution.objective, solution.assign = evaluate(problem, keep[opened])
            solution.open = np.sort(keep[opened])
        solution.lower_bound = min(bound, solution.objective)
        if solution.gap <= tol or time.perf_counter() > deadline:
            break
    solution.notes.append(f"{keep.size} of {problem.cost.shape[1]} candidates left after fixing")
    if solution.gap <= tol:
        solution.status = OPTIMAL
        return
    found, mip_bound, proven = _exact(sub, deadline, tol)
    if found is not None:
        res, parts = found
        open_local, assign_local = _from_mip(sub, res, *parts)
        value, _ = evaluate(sub, open_local, assign_local)
        if value < solution.objective:
            solution.open = np.sort(keep[open_local])
            solution.assign = np.where(assign_local >= 0, keep[np.maximum(assign_local, 0)], -1)
            solution.objective = value
    _merge(problem, solution, None, mip_bound, proven, tol)


def _merge(problem, solution, found, bound, proven, tol) -> Solution:
    """Take HiGHS's answer where it is better, and its status exactly as it says."""
    solution.method += " + HiGHS MIP"
    if found is not None:
        res, parts = found
        open_idx, assign = _from_mip(problem, res, *parts)
        value, _ = evaluate(problem, open_idx, assign)
        if value < solution.objective:
            solution.open, solution.assign, solution.objective = np.sort(open_idx), assign, value
    solution.lower_bound = min(max(solution.lower_bound, bound), solution.objective)
    if solution.gap <= tol or proven:
        solution.status = OPTIMAL  # certified by the bound, or HiGHS proved it exactly
    else:
        solution.status = TIME_LIMIT
        solution.notes.append(
            "stopped at the time limit: the answer is not proven optimal "
            f"(gap {100 * solution.gap:.3g} %)"
        )
    return solution


def capacitated_assign(problem: Problem, open_idx: np.ndarray) -> np.ndarray:
    """A feasible assignment for an open set under capacities: factories that save most
    by joining go first, each to its cheapest plant with room left, else their own."""
    n = problem.cost.shape[0]
    sub = problem.cost[:, open_idx]
    saving = problem.own - sub.min(axis=1)
    room = problem.capacity[open_idx].astype(float).copy()
    assign = np.full(n, -1, dtype=int)
    for i in np.argsort(-saving, kind="stable"):  # one pass over factories
        for p in np.argsort(sub[i], kind="stable"):
            if sub[i, p] >= problem.own[i] or not np.isfinite(sub[i, p]):
                break
            if problem.demand[i] <= room[p] + 1e-9:
                assign[i], room[p] = open_idx[p], room[p] - problem.demand[i]
                break
    if (assign < 0).any() and not np.isfinite(problem.own[assign < 0]).all():
        return np.full(n, -2, dtype=int)  # someone must connect and nothing fits
    return assign


def _capacitated(problem, start_open, value, t0, deadline, tol, notes) -> Solution:
    # the uncapacitated bound also bounds the capacitated optimum from below
    bound = lagrangian_bound(problem, value, tol=tol, deadline=deadline)
    found, mip_bound, proven = _exact(problem, deadline, tol)
    n = problem.cost.shape[0]
    solution = Solution(
        np.array([], dtype=int),
        np.full(n, -2),
        np.inf,
        max(bound, mip_bound),
        FEASIBLE,
        "HiGHS MIP (capacitated), Lagrangian bound",
        time.perf_counter() - t0,
        notes,
    )
    fallback = capacitated_assign(problem, np.asarray(start_open))
    if found is None and (fallback >= -1).all():  # no MIP answer in time: the greedy fill
        solution.open = np.sort(np.asarray(start_open))
        solution.assign = fallback
        solution.objective, _ = evaluate(problem, solution.open, fallback)
        solution.lower_bound = min(solution.lower_bound, solution.objective)
        solution.method += " (HiGHS found nothing in time: greedy capacity fill)"
        return _merge(problem, solution, None, mip_bound, False, tol)
    if found is None:
        infeasible = proven is False and time.perf_counter() < deadline
        solution.status = INFEASIBLE if infeasible else TIME_LIMIT
        solution.notes.append(
            "no assignment fits the capacities"
            if infeasible
            else "no feasible assignment was found within the time limit"
        )
        return solution
    solution = _merge(problem, solution, found, mip_bound, proven, tol)
    solution.seconds = time.perf_counter() - t0
    return solution
