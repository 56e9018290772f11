"""Training: one job per (model variant, fold), plus one model on all paired subjects."""


rule train_model:
    input:
        folds=LAYOUT.folds_table,
        atlas=LAYOUT.atlas,
        images=preprocessed(),
    output:
        model=LAYOUT.checkpoint(variant="{variant}", fold="{fold}"),
        history=LAYOUT.history(variant="{variant}", fold="{fold}"),
    wildcard_constraints:
        variant=_one_of(VARIANTS),
    params:
        settings=training_settings,
        preproc_dir=LAYOUT.preprocess_dir,
    log:
        LAYOUT.log("train", "{variant}_fold-{fold}"),
    benchmark:
        LAYOUT.benchmark("train", "{variant}_fold-{fold}")
    threads: SETTINGS.training.threads
    resources:
        mem_mb=training_memory_mb,
        runtime=720,
    conda:
        f"{ENVS}/torch.yaml"
    shell:
        "gla-model train --settings {params.settings:q} --threads {threads} "
        "--variant {wildcards.variant} --folds {input.folds} --fold {wildcards.fold} "
        "--preproc-dir {params.preproc_dir} --atlas {input.atlas} "
        "--checkpoint {output.model} --history {output.history} > {log} 2>&1"
