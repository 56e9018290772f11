"""Image quality of synthetic PET against real PET, inside the brain mask."""


rule write_metric_spec:
    output:
        METRIC_SPEC,
    log:
        LOGS / "write_metric_spec.log",
    conda:
        f"{ENVS}/torch.yaml"
    shell:
        "gla-model image-quality --spec-out {output} > {log} 2>&1"


rule assess_image_quality:
    input:
        synth=fold_synth_dirs,
        folds=FOLDS_TABLE,
        images=preprocessed(),
    output:
        QUALITY / "{variant}.tsv",
    wildcard_constraints:
        variant=_one_of(QUALITY_SOURCES),
    params:
        synth=lambda wildcards: synth_dir_option(wildcards.variant),
        preproc_dir=PREPROC,
    log:
        LOGS / "evaluate" / "image_quality_{variant}.log",
    benchmark:
        BENCH / "evaluate" / "image_quality_{variant}.tsv"
    conda:
        f"{ENVS}/torch.yaml"
    shell:
        "gla-model image-quality --variant {wildcards.variant} {params.synth} "
        "--folds {input.folds} --preproc-dir {params.preproc_dir} --out {output} > {log} 2>&1"
