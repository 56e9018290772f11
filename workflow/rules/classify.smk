"""RBF-SVM AD-vs-CN classification: paired CV (Table II) and the completed cohort (Table III)."""


rule classify_paired:
    input:
        unpack(synth_features),
        real=LAYOUT.features(vocab.REAL_PET),
        folds=LAYOUT.folds_table,
    output:
        scores=LAYOUT.classification(experiment=vocab.PAIRED_EXPERIMENT, source="{source}"),
        predictions=LAYOUT.predictions(experiment=vocab.PAIRED_EXPERIMENT, source="{source}"),
    wildcard_constraints:
        source=_one_of(PAIRED_SOURCES),
    params:
        synth=synth_features_option,
        settings=job_settings(classification=SETTINGS.classification),
        experiment=vocab.PAIRED_EXPERIMENT,
    log:
        LAYOUT.log("classify", f"{vocab.PAIRED_EXPERIMENT}_{{source}}"),
    benchmark:
        LAYOUT.benchmark("classify", f"{vocab.PAIRED_EXPERIMENT}_{{source}}")
    conda:
        f"{ENVS}/analysis.yaml"
    shell:
        "gla-model classify --settings {params.settings:q} --experiment {params.experiment} "
        "--source {wildcards.source} --features-real {input.real} {params.synth} "
        "--folds {input.folds} --out {output.scores} --out-predictions {output.predictions} "
        "> {log} 2>&1"


rule classify_complete:
    input:
        unpack(synth_features),
        real=LAYOUT.features(vocab.REAL_PET),
        cohort=LAYOUT.cohort_table,
    output:
        scores=LAYOUT.classification(experiment=vocab.COMPLETE_EXPERIMENT, source="{source}"),
        predictions=LAYOUT.predictions(experiment=vocab.COMPLETE_EXPERIMENT, source="{source}"),
    wildcard_constraints:
        source=_one_of(COMPLETE_SOURCES),
    params:
        synth=synth_features_option,
        settings=job_settings(classification=SETTINGS.classification,
                              cv__n_folds=SETTINGS.cv.n_folds),
        experiment=vocab.COMPLETE_EXPERIMENT,
    log:
        LAYOUT.log("classify", f"{vocab.COMPLETE_EXPERIMENT}_{{source}}"),
    benchmark:
        LAYOUT.benchmark("classify", f"{vocab.COMPLETE_EXPERIMENT}_{{source}}")
    conda:
        f"{ENVS}/analysis.yaml"
    shell:
        "gla-model classify --settings {params.settings:q} --experiment {params.experiment} "
        "--source {wildcards.source} --features-real {input.real} {params.synth} "
        "--cohort {input.cohort} --out {output.scores} --out-predictions {output.predictions} "
        "> {log} 2>&1"
