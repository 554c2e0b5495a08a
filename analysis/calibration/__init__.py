"""Calibration against published measurements of today's web (`ouroboros calibrate`).

A targets file (`scenarios/calibration/today.toml`) lists measured values (each with a band
and its source) of registry metrics at dates, or of scenario values, and the free parameters a
fit may move. The check simulates a scenario's replications up to the last target step and
compares each target's simulated mean with its band; the fit (`--fit`) estimates the free
parameters by the method of simulated moments on a Latin hypercube and writes the fitted
scenario, every point and an account into a new folder.

Modules (imported one by one: a worker process that simulates needs `simulate` alone):
`targets` (the file, validated against the scenario), `simulate` (runs and their moments, in
parallel), `check` (comparisons), `fit` (design, loss, confidence set), `write` (the fit's
folder).
"""
