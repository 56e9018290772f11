"""Synthesis: PET for each fold's test subjects, and for MRI-only subjects from the full model."""


rule synthesize_test_fold:
    input:
        model=checkpoint_path("{variant}", "{fold}"),
        folds=FOLDS_TABLE,
        images=preprocessed(),
    output:
        directory(synth_dir("{variant}", "{fold}")),
    wildcard_constraints:
        fold="[0-9]+",
    params:
        preproc_dir=PREPROC,
    log:
        LOGS / "synthesize" / "{variant}_fold-{fold}.log",
    benchmark:
        BENCH / "synthesize" / "{variant}_fold-{fold}.tsv"
    threads: config["training"]["threads"]
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        f"{ENVS}/torch.yaml"
    shell:
        "gla-model synthesize --checkpoint {input.model} --folds {input.folds} "
        "--fold {wildcards.fold} --preproc-dir {params.preproc_dir} --out-dir {output} "
        "> {log} 2>&1"


rule synthesize_mri_only:
    input:
        model=checkpoint_path("{variant}", "full"),
        cohort=COHORT_TABLE,
        images=preprocessed(),
    output:
        directory(synth_dir("{variant}", "full")),
    params:
        preproc_dir=PREPROC,
    log:
        LOGS / "synthesize" / "{variant}_full.log",
    benchmark:
        BENCH / "synthesize" / "{variant}_full.tsv"
    threads: config["training"]["threads"]
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        f"{ENVS}/torch.yaml"
    shell:
        "gla-model synthesize --checkpoint {input.model} --cohort {input.cohort} "
        "--group mri_only --preproc-dir {params.preproc_dir} --out-dir {output} > {log} 2>&1"
