"""RBF-SVM AD-vs-CN classification: paired CV (Table II) and the completed cohort (Table III)."""


rule classify_paired:
    input:
        unpack(synth_features),
        real=RESULTS / "features" / "real.tsv",
        folds=FOLDS_TABLE,
    output:
        scores=RESULTS / "classify" / "paired" / "{source}.tsv",
        predictions=RESULTS / "classify" / "paired" / "{source}_predictions.tsv",
    wildcard_constraints:
        source=_one_of(PAIRED_SOURCES),
    params:
        synth=synth_features_option,
        svm=as_json(CLASSIFICATION["svm"]),
        seeds=" ".join(str(seed) for seed in CLASSIFICATION["seeds"]),
    log:
        LOGS / "classify" / "paired_{source}.log",
    benchmark:
        BENCH / "classify" / "paired_{source}.tsv"
    conda:
        f"{ENVS}/analysis.yaml"
    shell:
        "gla-model classify --experiment paired --source {wildcards.source} "
        "--features-real {input.real} {params.synth} --folds {input.folds} "
        "--svm {params.svm:q} --seeds {params.seeds} --out {output.scores} > {log} 2>&1"


rule classify_complete:
    input:
        unpack(synth_features),
        real=RESULTS / "features" / "real.tsv",
        cohort=COHORT_TABLE,
    output:
        scores=RESULTS / "classify" / "complete" / "{source}.tsv",
        predictions=RESULTS / "classify" / "complete" / "{source}_predictions.tsv",
    wildcard_constraints:
        source=_one_of(COMPLETE_SOURCES),
    params:
        synth=synth_features_option,
        svm=as_json(CLASSIFICATION["svm"]),
        seeds=" ".join(str(seed) for seed in CLASSIFICATION["seeds"]),
        n_folds=config["cv"]["n_folds"],
    log:
        LOGS / "classify" / "complete_{source}.log",
    benchmark:
        BENCH / "classify" / "complete_{source}.tsv"
    conda:
        f"{ENVS}/analysis.yaml"
    shell:
        "gla-model classify --experiment complete --source {wildcards.source} "
        "--features-real {input.real} {params.synth} --cohort {input.cohort} "
        "--n-folds {params.n_folds} --svm {params.svm:q} --seeds {params.seeds} "
        "--out {output.scores} > {log} 2>&1"
