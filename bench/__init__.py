"""`goodput bench`: speed and memory of the pipeline on the default fleet at one or more history sizes, as medians
over repeated runs and as ratios against references measured in the same run (so a noisy shared machine shifts
both sides alike). Apart from the package it measures: harness (timing in fresh processes), references (what the
figures are held against), workloads (the pipeline's steps), targets (one table) and run (the sizes and the
extrapolation to a year)."""
