"""Report: the paper's tables, ablations, figures and summary, annotated for `snakemake --report`."""

import shlex

from gla_model.report.outputs import output_paths

REPORTED_VARIANTS = as_json(VARIANTS)
INTERPOLATION_VARIANT = config["report"]["interpolation_variant"]
INTERPOLATION_FOLD = config["report"]["interpolation_fold"]
CAPTIONS = {
    "ablation_": ("ablation_table.rst", "figure_ablation.rst"),
    "qualitative_": (None, "figure_qualitative.rst"),
    "training_curves": (None, "figure_training_curves.rst"),
    "interpolation": ("interpolation_table.rst", "figure_interpolation.rst"),
}


def _annotated(part):
    """The outputs of one report part, each with its caption for `snakemake --report`."""
    annotated = []
    for path in output_paths(out_dir=REPORT, what=part, variants=VARIANTS):
        table, figure = next(
            (captions for prefix, captions in CAPTIONS.items() if path.stem.startswith(prefix)),
            (f"{path.stem}.rst", None),
        )
        caption = figure if path.suffix == ".png" else table
        category = "Figures" if path.suffix == ".png" else "Tables"
        annotated.append(
            report(path, caption=f"../../reports/{caption}", category=category,
                   labels={"name": path.stem, "format": path.suffix.lstrip(".")})
        )
    return annotated


REPORT_OUTPUTS = [
    path for part in ("tables", "figures", "interpolation") for path in
    output_paths(out_dir=REPORT, what=part, variants=VARIANTS)
]

EVALUATION_INPUTS = {
    "quality": [RESULTS / "evaluate" / "image_quality" / f"{v}.tsv" for v in QUALITY_SOURCES],
    "spec": METRIC_SPEC,
    "paired": [RESULTS / "classify" / "paired" / f"{s}.tsv" for s in PAIRED_SOURCES],
    "complete": [RESULTS / "classify" / "complete" / f"{s}.tsv" for s in COMPLETE_SOURCES],
    "qc": PREPROC / "qc.tsv",
}
EVALUATION_OPTIONS = (
    f"--variants-json {shlex.quote(REPORTED_VARIANTS)} --reference {config['evaluation']['reference_variant']} "
    f"--image-quality-dir {RESULTS / 'evaluate' / 'image_quality'} --metric-spec {METRIC_SPEC} "
    f"--classify-dir {RESULTS / 'classify'} --qc {PREPROC / 'qc.tsv'} --out-dir {REPORT}"
)


rule report_tables:
    input:
        **EVALUATION_INPUTS,
    output:
        _annotated("tables"),
    params:
        options=EVALUATION_OPTIONS,
    log:
        LOGS / "report" / "tables.log",
    shell:
        "gla-model report --what tables {params.options} > {log} 2>&1"


rule report_figures:
    input:
        **EVALUATION_INPUTS,
        history=[RESULTS / "train" / v / f"fold-{k}" / "history.tsv" for v in VARIANTS
                 for k in FOLDS],
        synth=[synth_dir(v, k) for v in VARIANTS for k in FOLDS],
        images=preprocessed(PAIRED, pet=True),
        folds=FOLDS_TABLE,
    output:
        _annotated("figures"),
    params:
        options=EVALUATION_OPTIONS,
    log:
        LOGS / "report" / "figures.log",
    benchmark:
        BENCH / "report" / "figures.tsv"
    shell:
        "gla-model report --what figures {params.options} --train-dir {RESULTS}/train "
        "--synth-dir {RESULTS}/synthesize --preproc-dir {PREPROC} --folds {input.folds} "
        "> {log} 2>&1"


rule report_interpolation:
    input:
        checkpoint=checkpoint_path(INTERPOLATION_VARIANT, INTERPOLATION_FOLD),
        features=RESULTS / "features" / "real.tsv",
        folds=FOLDS_TABLE,
        atlas=ATLAS,
        images=preprocessed(PAIRED, pet=True),
    output:
        _annotated("interpolation"),
    params:
        svm=as_json(config["classification"]["svm"]),
        seed=config["classification"]["seeds"][0],
        steps=config["report"]["interpolation_steps"],
    log:
        LOGS / "report" / "interpolation.log",
    shell:
        "gla-model report --what interpolation --variants-json {REPORTED_VARIANTS:q} "
        "--out-dir {REPORT} --checkpoint {input.checkpoint} --preproc-dir {PREPROC} "
        "--atlas {input.atlas} --folds {input.folds} --features-real {input.features} "
        "--svm {params.svm:q} --seed {params.seed} --interpolation-fold {INTERPOLATION_FOLD} "
        "--interpolation-steps {params.steps} > {log} 2>&1"


rule report_summary:
    input:
        **EVALUATION_INPUTS,
        cohort=COHORT_TABLE,
        folds=FOLDS_TABLE,
        tables=REPORT_OUTPUTS,
    output:
        report(REPORT / "summary.md", caption="../../reports/summary.rst", category="Summary"),
    params:
        options=EVALUATION_OPTIONS,
        config=as_json(config),
    log:
        LOGS / "report" / "summary.log",
    shell:
        "gla-model report --what summary {params.options} --cohort {input.cohort} "
        "--folds {input.folds} --failures-dir {PREPROC}/failures --config-json {params.config:q} "
        "> {log} 2>&1"
