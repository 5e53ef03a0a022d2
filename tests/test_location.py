"""The location–allocation solver against brute force, with capacities, an uphill penalty,
and an honest status when time runs out."""

from __future__ import annotations

import itertools

import geopandas as gpd
import numpy as np
import pytest
from affine import Affine
from shapely.geometry import Point

from townmap.analysis import location
from townmap.analysis.location import OPTIMAL, TIME_LIMIT, Problem, Solution, evaluate, solve
from townmap.analysis.siting import build_problem


def _random(rng, n, m):
    pts, cand = rng.uniform(0, 10, (n, 2)), rng.uniform(0, 10, (m, 2))
    cost = np.linalg.norm(pts[:, None] - cand[None], axis=2) * rng.uniform(1, 3, n)[:, None]
    return cost, rng.uniform(3, 15, n), rng.uniform(0, 5, m)


def test_small_instances_match_brute_force_and_are_certified():
    rng = np.random.default_rng(7)
    for _ in range(25):
        n, m = int(rng.integers(4, 20)), int(rng.integers(3, 9))
        k = int(rng.integers(1, min(4, m) + 1))
        cost, own, fixed = _random(rng, n, m)
        problem = Problem(cost, own, fixed, k)
        sol = solve(problem, time_limit=10)
        brute = min(evaluate(problem, list(c))[0] for c in itertools.combinations(range(m), k))
        assert sol.objective == pytest.approx(brute, rel=1e-9)
        assert sol.proven_optimal and sol.gap <= 1e-6 and len(sol.open) == k
        value, _ = evaluate(problem, sol.open, sol.assign)
        assert value == pytest.approx(sol.objective)


def _brute_capacitated(problem: Problem) -> float:
    n, m = problem.cost.shape
    best = np.inf
    for opened in itertools.combinations(range(m), problem.k):
        for choice in itertools.product([-1, *opened], repeat=n):
            load = np.zeros(m)
            for i, j in enumerate(choice):
                if j >= 0:
                    load[j] += problem.demand[i]
            if (load > problem.capacity + 1e-9).any():
                continue
            value, _ = evaluate(problem, np.array(opened), np.array(choice))
            best = min(best, value)
    return best


def test_a_capacity_forces_a_split_and_the_optimum_is_found():
    # four factories of 45 m³/d next to site 0; site 1 is farther; a plant takes 100 m³/d
    cost = np.array([[1.0, 5.0], [1.0, 5.0], [1.2, 4.0], [1.1, 6.0]])
    problem = Problem(cost, np.full(4, 50.0), np.zeros(2), 2, demand=np.full(4, 45.0),
                      capacity=np.full(2, 100.0))  # fmt: skip
    sol = solve(problem, time_limit=20)
    assert sol.proven_optimal
    assert set(sol.assign) == {0, 1}  # the capacity splits them
    assert (np.bincount(sol.assign, minlength=2) * 45 <= 100).all()
    assert sol.objective == pytest.approx(_brute_capacitated(problem))
    uncapacitated = solve(Problem(cost, np.full(4, 50.0), np.zeros(2), 2), time_limit=10)
    assert set(uncapacitated.assign) == {0}
    assert uncapacitated.objective < sol.objective


def test_capacities_nobody_can_meet_are_reported_infeasible():
    problem = Problem(np.ones((3, 2)), np.full(3, np.inf), np.zeros(2), 1,
                      demand=np.full(3, 60.0), capacity=np.full(2, 100.0))  # fmt: skip
    sol = solve(problem, time_limit=10)
    assert sol.status == "infeasible" and not sol.proven_optimal and sol.notes


def test_pumping_uphill_changes_the_assignment():
    crs = "EPSG:4549"
    factory = gpd.GeoDataFrame({"wastewater_m3d": [100.0]}, geometry=[Point(500, 500)], crs=crs)
    sites = gpd.GeoDataFrame(geometry=[Point(400, 500), Point(650, 500)], crs=crs)
    costs = {"detour_factor": 1.0, "sewer_cny_per_m": 100.0, "lift_cny_per_m_rise": 5000.0,
             "design_factor": 1.0, "plant_cny_per_m3d": 0.0, "max_connection_m": 10_000,
             "own_fixed_cny": 1e9, "own_cny_per_m3d": 0.0, "plant_fixed_cny": 0.0}  # fmt: skip
    dem = np.full((10, 10), 10.0)
    dem[:, 4] = 20.0  # the nearer site (x 400–500) sits on a 10 m rise
    dem_info = (dem, Affine(100, 0, 0, 0, -100, 1000), crs, None)
    flat = solve(build_problem(factory, sites, 1, costs), time_limit=5)
    hilly = solve(build_problem(factory, sites, 1, costs, dem=dem_info), time_limit=5)
    assert list(flat.open) == [0]  # 100 m beats 150 m on flat ground
    assert list(hilly.open) == [1]  # 10 m of pumping (50,000) outweighs 50 m of sewer
    assert hilly.proven_optimal


def test_a_solver_stopped_by_its_time_limit_is_never_called_optimal():
    rng = np.random.default_rng(2)
    pts, cand = rng.uniform(0, 20_000, (400, 2)), rng.uniform(0, 20_000, (150, 2))
    problem = Problem(np.linalg.norm(pts[:, None] - cand[None], axis=2), np.full(400, np.inf),
                      np.zeros(150), 6)  # fmt: skip
    sol = solve(problem, time_limit=0.3)
    if sol.status == OPTIMAL:  # only ever with a bound that meets the solution
        assert sol.gap <= 1e-6
    else:
        assert sol.status in (TIME_LIMIT, "feasible") and sol.gap > 0
        assert any("not proven" in n for n in sol.notes) or sol.status == "feasible"
    # HiGHS reporting its time limit: the merge keeps that status and says so
    fake = Solution(np.array([0]), np.zeros(3, dtype=int), 10.0, 9.0, "feasible", "x", 0.1)
    merged = location._merge(problem, fake, None, 9.5, False, 1e-6)
    assert merged.status == TIME_LIMIT and merged.gap == pytest.approx(0.05)
    assert "not proven" in merged.notes[-1]


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"k": 0}, "k must be"),
        ({"k": 5}, "k must be"),
        ({"cost": -np.ones((2, 3))}, "≥ 0"),
        ({"cost": np.full((2, 3), np.nan)}, "numbers"),
    ],
)
def test_malformed_problems_are_refused(kwargs, words):
    base = {"cost": np.ones((2, 3)), "own": np.ones(2), "fixed": np.zeros(3), "k": 1}
    with pytest.raises(ValueError, match=words):
        Problem(**{**base, **kwargs})
