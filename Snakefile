"""GLA-GAN: MRI-to-FDG-PET synthesis and its evaluation, from BIDS to the paper's tables."""

from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


report: "reports/workflow.rst"


include: "workflow/rules/common.smk"


# Quick bookkeeping jobs run on the submitting host instead of waiting in a cluster queue.
localrules:
    all,
    write_cohort_table,
    make_folds,
    collect_qc,
    write_metric_spec,
    report_tables,
    report_complexity,
    report_summary,


include: "workflow/rules/cohort.smk"
include: "workflow/rules/preprocess.smk"
include: "workflow/rules/folds.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/synthesize.smk"
include: "workflow/rules/uncertainty.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/classify.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        all_outputs(),
    default_target: True
