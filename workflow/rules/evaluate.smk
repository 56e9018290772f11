"""Image quality of synthetic PET against real PET, inside the brain mask."""


def _fold_synth_dirs(wildcards):
    if wildcards.variant == "mean_train_pet":
        return []
    return [synth_dir(wildcards.variant, fold) for fold in FOLDS]


rule write_metric_spec:
    output:
        METRIC_SPEC,
    log:
        LOGS / "write_metric_spec.log",
    shell:
        "gla-model image-quality --spec-out {output} > {log} 2>&1"


rule assess_image_quality:
    input:
        synth=_fold_synth_dirs,
        folds=FOLDS_TABLE,
        images=preprocessed(PAIRED, pet=True),
    output:
        RESULTS / "evaluate" / "image_quality" / "{variant}.tsv",
    wildcard_constraints:
        variant=_one_of(QUALITY_SOURCES),
    params:
        synth=lambda wildcards: (
            "" if wildcards.variant == "mean_train_pet"
            else f"--synth-dir {RESULTS / 'synthesize' / wildcards.variant}"
        ),
    log:
        LOGS / "evaluate" / "image_quality_{variant}.log",
    benchmark:
        BENCH / "evaluate" / "image_quality_{variant}.tsv"
    shell:
        "gla-model image-quality --variant {wildcards.variant} {params.synth} "
        "--folds {input.folds} --preproc-dir {PREPROC} --out {output} > {log} 2>&1"
