"""RBF-SVM classification, every task of the cohort (TASKS) per job: paired CV (Table II) and
the completed cohort (Table III, with the trusted-completion row)."""


rule classify_paired:
    input:
        unpack(synth_features),
        real=LAYOUT.features(vocab.REAL_PET),
        folds=LAYOUT.folds_table,
    output:
        **classify_outputs(vocab.PAIRED_EXPERIMENT),
    wildcard_constraints:
        source=_one_of(PAIRED_SOURCES),
    params:
        synth=synth_features_option,
        settings=classify_settings(vocab.PAIRED_EXPERIMENT),
        experiment=vocab.PAIRED_EXPERIMENT,
        tasks=" ".join(TASKS),
        classify_dir=LAYOUT.classify_dir,
    log:
        LAYOUT.log("classify", f"{vocab.PAIRED_EXPERIMENT}_{{source}}"),
    benchmark:
        LAYOUT.benchmark("classify", f"{vocab.PAIRED_EXPERIMENT}_{{source}}")
    conda:
        f"{ENVS}/analysis.yaml"
    shell:
        "gla-model classify --settings {params.settings:q} --experiment {params.experiment} "
        "--source {wildcards.source} --tasks {params.tasks} --features-real {input.real} "
        "{params.synth} --folds {input.folds} --classify-dir {params.classify_dir} "
        "> {log} 2>&1"


rule classify_complete:
    input:
        unpack(synth_features),
        real=LAYOUT.features(vocab.REAL_PET),
        cohort=LAYOUT.cohort_table,
    output:
        **classify_outputs(vocab.COMPLETE_EXPERIMENT),
    wildcard_constraints:
        source=_one_of(COMPLETE_SOURCES),
    params:
        synth=synth_features_option,
        settings=classify_settings(vocab.COMPLETE_EXPERIMENT),
        experiment=vocab.COMPLETE_EXPERIMENT,
        tasks=" ".join(TASKS),
        classify_dir=LAYOUT.classify_dir,
    log:
        LAYOUT.log("classify", f"{vocab.COMPLETE_EXPERIMENT}_{{source}}"),
    benchmark:
        LAYOUT.benchmark("classify", f"{vocab.COMPLETE_EXPERIMENT}_{{source}}")
    conda:
        f"{ENVS}/analysis.yaml"
    shell:
        "gla-model classify --settings {params.settings:q} --experiment {params.experiment} "
        "--source {wildcards.source} --tasks {params.tasks} --features-real {input.real} "
        "{params.synth} --cohort {input.cohort} --classify-dir {params.classify_dir} "
        "> {log} 2>&1"
