"""Subject-level, stratified cross-validation folds of the paired subjects, made once."""


rule make_folds:
    input:
        COHORT_TABLE,
    output:
        FOLDS_TABLE,
    params:
        **config["cv"],
    log:
        LOGS / "make_folds.log",
    conda:
        f"{ENVS}/analysis.yaml"
    shell:
        "gla-model folds --cohort {input} --n-folds {params.n_folds} "
        "--val-fraction {params.val_fraction} --seed {params.seed} --out {output} > {log} 2>&1"
