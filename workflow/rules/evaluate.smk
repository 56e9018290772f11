"""Image quality of synthetic PET against real PET, inside the brain mask."""


rule write_metric_spec:
    output:
        LAYOUT.metric_spec,
    log:
        LAYOUT.log("evaluate", "write_metric_spec"),
    conda:
        f"{ENVS}/torch.yaml"
    shell:
        "gla-model evaluate --spec-out {output} > {log} 2>&1"


rule assess_image_quality:
    input:
        synth=fold_synth_dirs,
        folds=LAYOUT.folds_table,
        images=preprocessed(),
    output:
        LAYOUT.image_quality("{variant}"),
    wildcard_constraints:
        variant=_one_of(QUALITY_SOURCES),
    params:
        synth=lambda wildcards: synth_dir_option(wildcards.variant),
        preproc_dir=LAYOUT.preprocess_dir,
    log:
        LAYOUT.log("evaluate", "image_quality_{variant}"),
    benchmark:
        LAYOUT.benchmark("evaluate", "image_quality_{variant}")
    conda:
        f"{ENVS}/torch.yaml"
    shell:
        "gla-model evaluate --variant {wildcards.variant} {params.synth} "
        "--folds {input.folds} --preproc-dir {params.preproc_dir} --out {output} > {log} 2>&1"
