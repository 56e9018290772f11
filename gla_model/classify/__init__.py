"""RBF-SVM classification on AAL ROI features: AD vs CN (the paper's Tables II and III) and
the MCI tasks.

:mod:`.tasks` defines the tasks (classes, metrics, labels) and which ones a cohort can run
(no scikit-learn: the Snakefile reads it at DAG-build time); :mod:`.svm` tunes, fits and
scores one split; :mod:`.metrics` computes a task's metrics; :mod:`.experiments` runs the
paired and complete experiments; :mod:`.trusted` scores a split of the complete experiment
with only the synthetic PET whose uncertainty is low; :mod:`.command` is ``gla-model
classify``.
"""
