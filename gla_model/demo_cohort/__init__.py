"""The built-in demo cohort (the default data): a simulated BIDS dataset with ground truth.

:mod:`.plan` lists the subjects instantly (the Snakefile needs them at DAG-build time);
:mod:`.write` simulates and writes them; :mod:`.command` is ``gla-model demo-cohort``.
:mod:`.disease` is the disease model and the published effect sizes it is calibrated to;
:mod:`.measure` measures them (``benchmarks/cohort_effect_sizes.py``). :mod:`.phantoms`
writes brain-like phantoms on the model grid, for runs that skip preprocessing.
"""
