"""Subject-level, stratified cross-validation folds of the paired subjects, made once."""


rule make_folds:
    input:
        LAYOUT.cohort_table,
    output:
        LAYOUT.folds_table,
    params:
        settings=job_settings(cv=SETTINGS.cv),
    log:
        LAYOUT.log("folds", "make_folds"),
    conda:
        f"{ENVS}/analysis.yaml"
    shell:
        "gla-model folds --settings {params.settings:q} --cohort {input} --out {output} "
        "> {log} 2>&1"
