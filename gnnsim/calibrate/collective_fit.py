"""Fits of the gloo collective benchmark's rows: what a calibration keeps of them.

The benchmark (:mod:`gnnsim.calibrate.collectives`) runs in the ranks and writes raw
rows: each message size's mean and median time, each wake-up delay's time, and every
call's entry skew and cost in the skew and busy-gap sweeps. The functions here turn
those rows into the profile's numbers: the wake-up penalty of an idle rank
(:func:`fit_wakeup`), alpha's factor against the skew of the ranks' entries
(:func:`fit_spread`, its curve :func:`spread_ratio`) and after long compute
(:func:`fit_busy_gap`), and one set of rows from several rounds (:func:`median_rounds`).
"""

from __future__ import annotations

import numpy as np


MIN_WAKEUP_S = 5e-5
SKEW_EDGES_S = (0.0, 5e-6, 10e-6, 20e-6, 40e-6, 80e-6, 160e-6, 320e-6, 640e-6, 1.28e-3, 2.56e-3, np.inf)
MIN_PER_BIN = 3  # calls a skew bin needs to count in the fit


def fit_wakeup(rows: list[list[float]]) -> tuple[float, float]:
    """(wake-up seconds, idle threshold seconds) from [[delay, time]] rows.

    The penalty is the time above the no-delay time; the threshold lies halfway between
    the last delay without a penalty and the first with one.

    >>> fit_wakeup([[0, 1e-4], [1e-4, 1e-4], [5e-4, 1e-4], [1e-3, 2.1e-3], [2e-3, 2.1e-3]])
    (0.002, 0.00075)
    """
    delays = np.array([r[0] for r in rows])
    extra = np.array([r[1] for r in rows]) - rows[0][1]
    long_waits = extra[delays >= 1e-3]
    penalty = float(np.median(long_waits)) if long_waits.size else 0.0
    if penalty < MIN_WAKEUP_S:
        return 0.0, 0.0
    paid = np.flatnonzero(extra > penalty / 2)
    first = int(paid[0]) if paid.size else len(delays) - 1
    threshold = (delays[first] + delays[max(first - 1, 0)]) / 2
    return round(penalty, 9), round(float(threshold), 9)


def spread_ratio(skew, peak: float, floor: float, scale: float):
    """:func:`fit_spread`'s curve: a collective's cost over the together prediction with
    its ranks entering ``skew`` seconds apart, ``floor + (peak - floor) exp(-skew / scale)``
    (``floor`` at any skew where ``scale`` is 0, the fit's "no fall"). Numbers or arrays.

    >>> round(float(spread_ratio(3e-5, 4.0, 1.0, 3e-5)), 3), float(spread_ratio(0.0, 2.0, 2.0, 0.0))
    (2.104, 2.0)
    """
    if scale <= 0:
        return floor + 0.0 * np.asarray(skew, dtype=float)
    return floor + (peak - floor) * np.exp(-np.asarray(skew, dtype=float) / scale)


def fit_spread(pairs: list[list[float]], together_s: float) -> tuple[float, float, float]:
    """(peak, floor, scale seconds) of one collective's cost against its entry skew:
    ``ratio(d) = floor + (peak - floor) exp(-d / scale)``, its mean cost with the ranks
    entering ``d`` apart over ``together_s`` (the size sweep's prediction for the same
    message), fitted to the calls' [[skew, cost]] pairs averaged in skew bins (stalls
    are rare and long: a mean needs the bin's every call). ``peak`` is the ratio when the
    ranks enter together, ``floor`` far apart. Where the pairs show no fall with the
    skew, ``peak == floor`` (their mean ratio) and the scale is 0.

    The scale stays within the skews measured: beyond the loosest entry the sweep saw, a
    floor would be an extrapolation (alpha could vanish for ranks arriving far apart).

    >>> rng = np.random.default_rng(0)
    >>> d = rng.uniform(0, 1e-3, 4000)
    >>> cost = 2e-4 * (1.0 + 3.0 * np.exp(-d / 3e-5)) * rng.uniform(0.9, 1.1, d.size)
    >>> peak, floor, scale = fit_spread(np.column_stack([d, cost]).tolist(), 2e-4)
    >>> round(peak, 1), round(floor, 2), round(scale * 1e6, -1)  # (the peak: the tightest bin's level)
    (3.8, 1.0, 30.0)
    """
    from scipy.optimize import least_squares

    table = np.asarray(pairs, dtype=float).reshape(-1, 2)
    if table.shape[0] == 0 or together_s <= 0:
        return 1.0, 1.0, 0.0
    ratio = table[:, 1] / together_s
    level = float(ratio.mean())
    which = np.digitize(table[:, 0], SKEW_EDGES_S[1:-1])
    bins = [np.flatnonzero(which == b) for b in range(len(SKEW_EDGES_S) - 1)]
    bins = [b for b in bins if b.size >= MIN_PER_BIN]
    if len(bins) < 3:
        return round(level, 4), round(level, 4), 0.0
    skew = np.array([table[b, 0].mean() for b in bins])
    mean = np.array([ratio[b].mean() for b in bins])
    weight = np.sqrt([b.size for b in bins])

    def residual(p):
        peak, floor, log_scale = p
        return weight * (spread_ratio(skew, peak, floor, np.exp(log_scale)) - mean)

    # Nor does the curve leave the levels measured: its peak stays at or below the highest
    # bin's mean, its fall no sharper than the first bin is wide (no spike on a few stalls).
    longest = max(float(skew.max()), 2 * SKEW_EDGES_S[1])
    top = float(mean.max())
    start = [top, min(float(mean.min()), top), np.log(min(3e-5, longest / 2))]
    sol = least_squares(residual, start, bounds=([0.0, 0.0, np.log(SKEW_EDGES_S[1])], [top * (1 + 1e-9), top * (1 + 1e-9),
                                                                                   np.log(longest)]))
    peak, floor, scale = float(sol.x[0]), float(sol.x[1]), float(np.exp(sol.x[2]))
    if peak <= 1.05 * floor:  # no fall with the skew (or a rise, the wake-up's, fitted apart)
        return round(level, 4), round(level, 4), 0.0
    return round(peak, 4), round(floor, 4), round(scale, 9)


def fit_busy_gap(rows: list[list[float]], expected=None) -> tuple[float, float]:
    """(rise, scale seconds) of ``factor(g) = 1 + rise (1 - exp(-g / scale))``, one
    collective's mean cost after ``g`` seconds of compute since the ranks' previous
    collective over its cost without that compute, from the busy-gap sweep's
    [[gap, skew, cost]] rows. (0, 0), no factor, when the costs do not rise.

    Without ``expected`` the reference is the sweep's own gap 0 (every gap has the same
    spread of entries, so the ratio of the means is the gap's own effect). With
    ``expected`` (a function of the entry skew: the cost the skew factor predicts) each
    gap's mean is taken over the mean of what that factor predicts for the same calls,
    and the gap 0 is left out: there the calls follow each other back to back, the skew
    sweep's case, and the factor must agree with that sweep where the simulator applies
    both.

    >>> rng = np.random.default_rng(0)
    >>> rows = [[g, 0.0, 1e-3 * (1 + 0.8 * (1 - np.exp(-g / 2e-3))) * rng.uniform(0.9, 1.1)]
    ...         for g in (0.0, 5e-4, 1e-3, 2e-3, 4e-3, 8e-3) for _ in range(200)]
    >>> rise, scale = fit_busy_gap(rows)
    >>> round(rise, 1), round(scale * 1e3, 1)
    (0.8, 2.0)
    >>> rows = [[g, 1e-4, c if g else 5 * c] for g, _, c in rows]  # a chained gap 0 far above the rest
    >>> rise, scale = fit_busy_gap(rows, expected=lambda skew: np.full(np.shape(skew), 1e-3))
    >>> round(rise, 1), round(scale * 1e3, 1)
    (0.8, 2.0)
    """
    from scipy.optimize import least_squares

    table = np.asarray(rows, dtype=float).reshape(-1, 3)
    gaps = np.unique(table[:, 0])
    if expected is not None:
        gaps = gaps[gaps > 0]
        if gaps.size < 3:
            return 0.0, 0.0
        ratio = np.array([table[table[:, 0] == g, 2].mean() / np.mean(expected(table[table[:, 0] == g, 1]))
                          for g in gaps])
    else:
        if gaps.size < 3 or not (table[:, 0] == gaps[0]).any():
            return 0.0, 0.0
        means = np.array([table[table[:, 0] == g, 2].mean() for g in gaps])
        if means[0] <= 0:
            return 0.0, 0.0
        ratio = means / means[0]
    weight = np.sqrt([(table[:, 0] == g).sum() for g in gaps])
    longest = float(gaps.max())

    def residual(p):
        rise, log_scale = p
        return weight * (1.0 + rise * (1.0 - np.exp(-gaps / np.exp(log_scale))) - ratio)

    sol = least_squares(residual, [max(0.0, float(ratio.max()) - 1.0), np.log(longest / 4)],
                        bounds=([0.0, np.log(1e-4)], [50.0, np.log(longest)]))
    rise, scale = float(sol.x[0]), float(np.exp(sol.x[1]))
    if rise < 0.05:
        return 0.0, 0.0
    return round(rise, 4), round(scale, 9)


def median_rows(tables: list[list[list[float]]]) -> list[list[float]]:
    """Row by row, each column's median over rounds' tables of the same rows
    ([[bytes, mean s, median s]] size rows, [[delay, s]] wake-up rows): each message
    size's (delay's) median round.

    >>> median_rows([[[8, 1.0, 0.5]], [[8, 3.0, 0.7]], [[8, 9.0, 0.6]]])
    [[8.0, 3.0, 0.6]]
    """
    return np.median(np.asarray(tables, dtype=float), axis=0).tolist()


def median_rounds(rounds: list[dict]) -> dict:
    """One benchmark's rows from several rounds of it
    (:func:`~gnnsim.calibrate.collectives.run_collectives`, spread over a calibration): each size's and each wake-up delay's median round
    (:func:`median_rows`), and every round's skew and busy-gap calls under ``"rounds"``
    (their factors are fitted round by round and the medians kept,
    :func:`gnnsim.calibrate.profile_blocks.collective_blocks`). One round comes back as is.

    >>> r = [{"allreduce": [[8, t, t]], "alltoall": [[8, t, t]], "wakeup": [[0, t]], "skew": {}} for t in (1.0, 5.0, 2.0)]
    >>> m = median_rounds(r); m["allreduce"], m["wakeup"], len(m["rounds"])
    ([[8.0, 2.0, 2.0]], [[0.0, 2.0]], 3)
    """
    if len(rounds) == 1:
        return rounds[0]
    merged = {key: median_rows([r[key] for r in rounds]) for key in ("allreduce", "alltoall", "wakeup")}
    return {**merged, "rounds": [{k: r[k] for k in ("skew", "gap") if k in r} for r in rounds]}
