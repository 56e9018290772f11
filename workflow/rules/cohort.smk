"""The cohort: the built-in synthetic BIDS dataset (when configured) and the subject table."""


if config["cohort"]["source"] == "demo":

    rule build_demo_cohort:
        output:
            DEMO_BIDS / "participants.tsv",
            [SUBJECTS[s].t1w for s in SUBJECTS],
            [SUBJECTS[s].pet for s in PAIRED],
        params:
            out=DEMO_BIDS,
            **config["cohort"]["demo"],
        log:
            LOGS / "build_demo_cohort.log",
        benchmark:
            BENCH / "build_demo_cohort.tsv"
        threads: 8
        conda:
            f"{ENVS}/preprocess.yaml"
        shell:
            "gla-model demo-cohort --out {params.out} --n-paired {params.n_paired} "
            "--n-mri-only {params.n_mri_only} --seed {params.seed} --jobs {threads} "
            "--t1-voxel-mm {params.t1_voxel_mm} --pet-voxel-mm {params.pet_voxel_mm} > {log} 2>&1"


rule write_cohort_table:
    input:
        participants=BIDS_ROOT / "participants.tsv",
    output:
        COHORT_TABLE,
    params:
        bids_dir=BIDS_ROOT,
        column=config["cohort"]["participants"]["diagnosis_column"],
        labels=as_json(config["cohort"]["participants"]["labels"]),
        session=f"--session {config['cohort']['session']}" if config["cohort"]["session"] else "",
        n_folds=config["cv"]["n_folds"],
    log:
        LOGS / "write_cohort_table.log",
    conda:
        f"{ENVS}/analysis.yaml"
    shell:
        "gla-model cohort-table --bids-dir {params.bids_dir:q} --diagnosis-column {params.column:q} "
        "--labels-json {params.labels:q} --n-folds {params.n_folds} {params.session} "
        "--out {output} > {log} 2>&1"
