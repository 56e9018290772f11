"""The cohort: the built-in demo dataset (when configured) and the subject table."""


if SETTINGS.cohort.source == "demo":

    rule build_demo_cohort:
        output:
            BIDS_ROOT / "participants.tsv",
            [SUBJECTS[s].t1w for s in SUBJECTS],
            [SUBJECTS[s].pet for s in PAIRED_SUBJECTS],
        params:
            settings=job_settings(cohort__demo=SETTINGS.cohort.demo),
            out=LAYOUT.demo_bids,
        log:
            LAYOUT.log("cohort", "build_demo_cohort"),
        benchmark:
            LAYOUT.benchmark("cohort", "build_demo_cohort")
        threads: 8
        conda:
            f"{ENVS}/preprocess.yaml"
        shell:
            "gla-model demo-cohort --settings {params.settings:q} --out {params.out} "
            "--jobs {threads} > {log} 2>&1"


rule write_cohort_table:
    input:
        participants=BIDS_ROOT / "participants.tsv",
    output:
        table=LAYOUT.cohort_table,
        sidecar=LAYOUT.cohort_sidecar,
    params:
        bids_dir=BIDS_ROOT,
        settings=job_settings(cohort__participants=SETTINGS.cohort.participants,
                              cohort__session=SETTINGS.cohort.session,
                              cohort__pet_reconstructions=SETTINGS.cohort.pet_reconstructions,
                              cohort__exclude=SETTINGS.cohort.exclude,
                              cv__n_folds=SETTINGS.cv.n_folds,
                              cv__val_fraction=SETTINGS.cv.val_fraction),
    log:
        LAYOUT.log("cohort", "write_cohort_table"),
    conda:
        f"{ENVS}/analysis.yaml"
    shell:
        "gla-model cohort --bids-dir {params.bids_dir:q} --settings {params.settings:q} "
        "--out {output.table} > {log} 2>&1"
