"""The cohort: the built-in synthetic BIDS dataset (when configured) and the subject table."""


if config["cohort"]["source"] == "demo":

    rule build_demo_cohort:
        output:
            DEMO_BIDS / "participants.tsv",
            [SUBJECTS[s].t1w for s in SUBJECTS],
            [SUBJECTS[s].pet for s in PAIRED],
        params:
            **config["cohort"]["demo"],
        log:
            LOGS / "build_demo_cohort.log",
        benchmark:
            BENCH / "build_demo_cohort.tsv"
        threads: workflow.cores
        shell:
            "gla-model demo-cohort --out {DEMO_BIDS} --n-paired {params.n_paired} "
            "--n-mri-only {params.n_mri_only} --seed {params.seed} > {log} 2>&1"


def _bids_root():
    if config["cohort"]["source"] == "demo":
        return DEMO_BIDS
    return Path(config["cohort"]["bids_dir"])


rule write_cohort_table:
    input:
        participants=_bids_root() / "participants.tsv",
    output:
        COHORT_TABLE,
    params:
        bids_dir=_bids_root(),
        column=config["cohort"]["participants"]["diagnosis_column"],
        labels=as_json(config["cohort"]["participants"]["labels"]),
        session=f"--session {config['cohort']['session']}" if config["cohort"]["session"] else "",
        n_folds=config["cv"]["n_folds"],
    log:
        LOGS / "write_cohort_table.log",
    shell:
        "gla-model cohort-table --bids-dir {params.bids_dir} --diagnosis-column {params.column} "
        "--labels-json {params.labels:q} --n-folds {params.n_folds} {params.session} "
        "--out {output} > {log} 2>&1"
