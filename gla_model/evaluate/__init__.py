"""Evaluation of synthetic PET: image quality, statistics, ROI features, SVM classification."""
