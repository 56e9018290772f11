"""The run's report: tables (Tables I-III, ablations, QC), figures and a plain-language summary."""
