"""Report: the paper's tables, ablations, figures and summary, annotated for `snakemake --report`."""

from gla_model.layout.report import built_report_parts

CLASSIFICATION_SOURCES = {vocab.PAIRED_EXPERIMENT: PAIRED_SOURCES,
                          vocab.COMPLETE_EXPERIMENT: COMPLETE_SOURCES}
EVALUATION_INPUTS = {
    "quality": [LAYOUT.image_quality(v) for v in QUALITY_SOURCES],
    "spec": LAYOUT.metric_spec,
    # Every task's results and predictions of every source (the classify jobs write both).
    "classification": [LAYOUT.classification(task=t, experiment=e, source=s) for t in TASKS
                       for e, sources in CLASSIFICATION_SOURCES.items() for s in sources],
    "predictions": [LAYOUT.predictions(task=t, experiment=e, source=s) for t in TASKS
                    for e, sources in CLASSIFICATION_SOURCES.items() for s in sources],
    "qc": LAYOUT.qc_table,
    "cohort": LAYOUT.cohort_table,
}
EVALUATION_OPTIONS = " ".join([
    f"--image-quality-dir {LAYOUT.image_quality_dir} --metric-spec {LAYOUT.metric_spec}",
    f"--classify-dir {LAYOUT.classify_dir} --qc {LAYOUT.qc_table} --out-dir {LAYOUT.report_dir}",
    f"--cohort {LAYOUT.cohort_table} --tasks {' '.join(TASKS)}",
])
REPORTED = job_settings(models=SETTINGS.enabled_models(), evaluation=SETTINGS.evaluation)


rule report_tables:
    input:
        **EVALUATION_INPUTS,
    output:
        annotated_report_outputs("tables"),
    params:
        options=EVALUATION_OPTIONS,
        settings=REPORTED,
    log:
        LAYOUT.log("report", "tables"),
    conda:
        f"{ENVS}/analysis.yaml"
    shell:
        "gla-model report --what tables --settings {params.settings:q} {params.options} "
        "> {log} 2>&1"


rule report_figures:
    input:
        **EVALUATION_INPUTS,
        history=[LAYOUT.history(variant=v, fold=k) for v in VARIANTS for k in FOLDS],
        synth=[LAYOUT.synth_dir(variant=v, fold=k) for v in VARIANTS for k in FOLDS],
        images=preprocessed(),
        folds=LAYOUT.folds_table,
    output:
        annotated_report_outputs("figures"),
    params:
        options=EVALUATION_OPTIONS,
        settings=REPORTED,
        train_dir=LAYOUT.train_dir,
        synth_dir=LAYOUT.synthesize_dir,
        preproc_dir=LAYOUT.preprocess_dir,
    log:
        LAYOUT.log("report", "figures"),
    benchmark:
        LAYOUT.benchmark("report", "figures")
    conda:
        f"{ENVS}/analysis.yaml"
    shell:
        "gla-model report --what figures --settings {params.settings:q} {params.options} "
        "--train-dir {params.train_dir} --synth-dir {params.synth_dir} "
        "--preproc-dir {params.preproc_dir} --folds {input.folds} > {log} 2>&1"


rule report_interpolation:
    input:
        checkpoint=LAYOUT.checkpoint(variant=SETTINGS.report.interpolation_variant,
                                     fold=str(SETTINGS.report.interpolation_fold)),
        features=LAYOUT.features(vocab.REAL_PET),
        folds=LAYOUT.folds_table,
        atlas=LAYOUT.atlas,
        images=preprocessed(),
    output:
        annotated_report_outputs("interpolation"),
    params:
        settings=job_settings(models=SETTINGS.enabled_models(),
                              classification=SETTINGS.classification,
                              report=SETTINGS.report, features__mri=SETTINGS.features.mri),
        out_dir=LAYOUT.report_dir,
        preproc_dir=LAYOUT.preprocess_dir,
    log:
        LAYOUT.log("report", "interpolation"),
    conda:
        f"{ENVS}/torch.yaml"
    shell:
        "gla-model report --what interpolation --settings {params.settings:q} "
        "--out-dir {params.out_dir} --checkpoint {input.checkpoint} "
        "--preproc-dir {params.preproc_dir} --atlas {input.atlas} --folds {input.folds} "
        "--features-real {input.features} > {log} 2>&1"


rule report_complexity:
    output:
        annotated_report_outputs("complexity"),
    params:
        settings=job_settings(models=SETTINGS.enabled_models(),
                              preprocessing__grid=SETTINGS.preprocessing.grid),
        out_dir=LAYOUT.report_dir,
    log:
        LAYOUT.log("report", "complexity"),
    conda:
        f"{ENVS}/torch.yaml"
    shell:
        "gla-model report --what complexity --settings {params.settings:q} "
        "--out-dir {params.out_dir} > {log} 2>&1"


# Fig 10 reads the global path of the interpolation variant's generator: only GLA-GAN
# generators with one have it (gla_model.layout.UNIT_ARCHS).
if "units" in built_report_parts(
    interpolation_arch=VARIANTS[SETTINGS.report.interpolation_variant].arch
):

    rule report_units:
        input:
            checkpoint=LAYOUT.checkpoint(variant=SETTINGS.report.interpolation_variant,
                                         fold=str(SETTINGS.report.interpolation_fold)),
            folds=LAYOUT.folds_table,
            atlas=LAYOUT.atlas,
            labels=LAYOUT.atlas_labels,
            images=preprocessed(),
        output:
            annotated_report_outputs("units"),
        params:
            settings=job_settings(models=SETTINGS.enabled_models(),
                                  report__interpolation_fold=SETTINGS.report.interpolation_fold),
            out_dir=LAYOUT.report_dir,
            preproc_dir=LAYOUT.preprocess_dir,
        log:
            LAYOUT.log("report", "units"),
        conda:
            f"{ENVS}/torch.yaml"
        shell:
            "gla-model report --what units --settings {params.settings:q} "
            "--out-dir {params.out_dir} --checkpoint {input.checkpoint} "
            "--preproc-dir {params.preproc_dir} --atlas {input.atlas} "
            "--atlas-labels {input.labels} --folds {input.folds} > {log} 2>&1"


rule report_uncertainty:
    input:
        [LAYOUT.uncertainty(variant=v, kind=k) for v in VARIANTS for k in UNCERTAINTY_TABLES],
    output:
        annotated_report_outputs("uncertainty"),
    params:
        settings=job_settings(models=SETTINGS.enabled_models()),
        out_dir=LAYOUT.report_dir,
        uncertainty_dir=LAYOUT.uncertainty_dir,
    log:
        LAYOUT.log("report", "uncertainty"),
    conda:
        f"{ENVS}/analysis.yaml"
    shell:
        "gla-model report --what uncertainty --settings {params.settings:q} "
        "--out-dir {params.out_dir} --uncertainty-dir {params.uncertainty_dir} > {log} 2>&1"


rule report_summary:
    input:
        **EVALUATION_INPUTS,
        folds=LAYOUT.folds_table,
        tables=REPORT_OUTPUTS,
    output:
        markdown=LAYOUT.report_outputs(part="summary", variants=VARIANTS)[0],
        page=report(LAYOUT.report_outputs(part="summary", variants=VARIANTS)[1],
                    caption="../../reports/summary.rst", category="Summary"),
    params:
        options=EVALUATION_OPTIONS,
        settings=job_settings(**as_mapping(SETTINGS)),
        failures=LAYOUT.failures_dir,
    log:
        LAYOUT.log("report", "summary"),
    conda:
        f"{ENVS}/analysis.yaml"
    shell:
        "gla-model report --what summary --settings {params.settings:q} {params.options} "
        "--folds {input.folds} --failures-dir {params.failures} "
        "> {log} 2>&1"
