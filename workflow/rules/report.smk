"""Report: the paper's tables, ablations, figures and summary, annotated for `snakemake --report`."""

EVALUATION_INPUTS = {
    "quality": [QUALITY / f"{v}.tsv" for v in QUALITY_SOURCES],
    "spec": METRIC_SPEC,
    "paired": [RESULTS / "classify" / "paired" / f"{s}.tsv" for s in PAIRED_SOURCES],
    "complete": [RESULTS / "classify" / "complete" / f"{s}.tsv" for s in COMPLETE_SOURCES],
    "qc": PREPROC / "qc.tsv",
}
EVALUATION_OPTIONS = " ".join([
    f"--variants-json {shlex.quote(as_json(VARIANTS))}",
    f"--reference {config['evaluation']['reference_variant']}",
    f"--image-quality-dir {QUALITY} --metric-spec {METRIC_SPEC}",
    f"--classify-dir {RESULTS / 'classify'} --qc {PREPROC / 'qc.tsv'} --out-dir {REPORT}",
])


rule report_tables:
    input:
        **EVALUATION_INPUTS,
    output:
        annotated_report_outputs("tables"),
    params:
        options=EVALUATION_OPTIONS,
    log:
        LOGS / "report" / "tables.log",
    conda:
        f"{ENVS}/analysis.yaml"
    shell:
        "gla-model report --what tables {params.options} > {log} 2>&1"


rule report_figures:
    input:
        **EVALUATION_INPUTS,
        history=[checkpoint_path(v, k).with_name("history.tsv") for v in VARIANTS
                 for k in FOLDS],
        synth=[synth_dir(v, k) for v in VARIANTS for k in FOLDS],
        images=preprocessed(),
        folds=FOLDS_TABLE,
    output:
        annotated_report_outputs("figures"),
    params:
        options=EVALUATION_OPTIONS,
        train_dir=RESULTS / "train",
        synth_dir=RESULTS / "synthesize",
        preproc_dir=PREPROC,
    log:
        LOGS / "report" / "figures.log",
    benchmark:
        BENCH / "report" / "figures.tsv"
    conda:
        f"{ENVS}/analysis.yaml"
    shell:
        "gla-model report --what figures {params.options} --train-dir {params.train_dir} "
        "--synth-dir {params.synth_dir} --preproc-dir {params.preproc_dir} "
        "--folds {input.folds} > {log} 2>&1"


rule report_interpolation:
    input:
        checkpoint=checkpoint_path(config["report"]["interpolation_variant"],
                                   config["report"]["interpolation_fold"]),
        features=RESULTS / "features" / "real.tsv",
        folds=FOLDS_TABLE,
        atlas=ATLAS,
        images=preprocessed(),
    output:
        annotated_report_outputs("interpolation"),
    params:
        variants=as_json(VARIANTS),
        out_dir=REPORT,
        preproc_dir=PREPROC,
        svm=as_json(CLASSIFICATION["svm"]),
        seed=CLASSIFICATION["seeds"][0],
        fold=config["report"]["interpolation_fold"],
        steps=config["report"]["interpolation_steps"],
    log:
        LOGS / "report" / "interpolation.log",
    conda:
        f"{ENVS}/torch.yaml"
    shell:
        "gla-model report --what interpolation --variants-json {params.variants:q} "
        "--out-dir {params.out_dir} --checkpoint {input.checkpoint} "
        "--preproc-dir {params.preproc_dir} --atlas {input.atlas} --folds {input.folds} "
        "--features-real {input.features} --svm {params.svm:q} --seed {params.seed} "
        "--interpolation-fold {params.fold} --interpolation-steps {params.steps} > {log} 2>&1"


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
        failures=PREPROC / "failures",
        config=as_json(config),
    log:
        LOGS / "report" / "summary.log",
    conda:
        f"{ENVS}/analysis.yaml"
    shell:
        "gla-model report --what summary {params.options} --cohort {input.cohort} "
        "--folds {input.folds} --failures-dir {params.failures} --config-json {params.config:q} "
        "> {log} 2>&1"
