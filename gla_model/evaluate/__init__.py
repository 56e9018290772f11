"""Evaluation of synthetic PET: image quality against real PET (Table I) and the statistics
the report tables use."""
