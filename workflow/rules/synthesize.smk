"""Synthesis: PET for each fold's test subjects, and for MRI-only subjects from the full model,
each with its uncertainty map (SD over the members that never saw the subject: a test-fold
subject's fold model; for MRI-only subjects the full model and every fold model)."""

SYNTHESIS_SETTINGS = job_settings(training__device=SETTINGS.training.device,
                                  training__precision=SETTINGS.training.precision,
                                  uncertainty__tta_flip=SETTINGS.uncertainty.tta_flip,
                                  uncertainty__tta_shift=SETTINGS.uncertainty.tta_shift)


rule synthesize_test_fold:
    input:
        model=LAYOUT.checkpoint(variant="{variant}", fold="{fold}"),
        folds=LAYOUT.folds_table,
        images=preprocessed(),
    output:
        directory(LAYOUT.synth_dir(variant="{variant}", fold="{fold}")),
    wildcard_constraints:
        fold="[0-9]+",
    params:
        settings=SYNTHESIS_SETTINGS,
        preproc_dir=LAYOUT.preprocess_dir,
    log:
        LAYOUT.log("synthesize", "{variant}_fold-{fold}"),
    benchmark:
        LAYOUT.benchmark("synthesize", "{variant}_fold-{fold}")
    threads: SETTINGS.training.threads
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        f"{ENVS}/torch.yaml"
    shell:
        "gla-model synthesize --settings {params.settings:q} --threads {threads} "
        "--checkpoint {input.model} --folds {input.folds} --fold {wildcards.fold} "
        "--preproc-dir {params.preproc_dir} --out-dir {output} > {log} 2>&1"


rule synthesize_mri_only:
    input:
        model=LAYOUT.checkpoint(variant="{variant}", fold=vocab.FULL_FOLD),
        members=expand(LAYOUT.checkpoint(variant="{{variant}}", fold="{fold}"), fold=FOLDS),
        cohort=LAYOUT.cohort_table,
        images=preprocessed(),
    output:
        directory(LAYOUT.synth_dir(variant="{variant}", fold=vocab.FULL_FOLD)),
    params:
        settings=SYNTHESIS_SETTINGS,
        preproc_dir=LAYOUT.preprocess_dir,
        group=vocab.MRI_ONLY_SUBJECTS,
    log:
        LAYOUT.log("synthesize", f"{{variant}}_{vocab.FULL_FOLD}"),
    benchmark:
        LAYOUT.benchmark("synthesize", f"{{variant}}_{vocab.FULL_FOLD}")
    threads: SETTINGS.training.threads
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        f"{ENVS}/torch.yaml"
    shell:
        "gla-model synthesize --settings {params.settings:q} --threads {threads} "
        "--checkpoint {input.model} --member-checkpoints {input.members} "
        "--cohort {input.cohort} --group {params.group} "
        "--preproc-dir {params.preproc_dir} --out-dir {output} > {log} 2>&1"
