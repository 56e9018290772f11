"""Preprocessing: per-subject nipype workflows (ants or fsl backend) and the atlas on the grid."""


rule resample_atlas:
    output:
        dseg=LAYOUT.atlas,
        labels=LAYOUT.atlas_labels,
    params:
        settings=job_settings(preprocessing__grid=SETTINGS.preprocessing.grid,
                              preprocessing__atlas=SETTINGS.preprocessing.atlas,
                              preprocessing__atlas_labels=SETTINGS.preprocessing.atlas_labels),
    log:
        LAYOUT.log("preprocess", "resample_atlas"),
    conda:
        f"{ENVS}/preprocess.yaml"
    shell:
        "gla-model resample-atlas --settings {params.settings:q} "
        "--out-dseg {output.dseg} --out-labels {output.labels} > {log} 2>&1"


rule preprocess_subject:
    """One subject's folder of results/preprocess (anat/, pet/ for paired subjects, qc/):
    written together, atomically, by one job, so the folder is the job's one output."""
    input:
        unpack(subject_images),
    output:
        directory(LAYOUT.subject_dir("{subject}")),
    params:
        pet=lambda wildcards, input: f"--pet {shlex.quote(input.pet)}" if "pet" in input.keys()
        else "",
        settings=job_settings(preprocessing=without_resources(SETTINGS.preprocessing)),
    log:
        LAYOUT.log("preprocess", "sub-{subject}"),
    benchmark:
        LAYOUT.benchmark("preprocess", "sub-{subject}")
    group:
        "preprocess"
    threads: SETTINGS.preprocessing.threads
    resources:
        mem_mb=1500,
        runtime=30,
    conda:
        f"{ENVS}/preprocess.yaml"
    shell:
        "gla-model preprocess --settings {params.settings:q} --threads {threads} "
        "--participant-id {wildcards.subject} --t1w {input.t1w:q} {params.pet} "
        "--out-dir {output} > {log} 2>&1"


rule collect_qc:
    input:
        subjects=[LAYOUT.subject_dir(s) for s in SUBJECTS],
        atlas=LAYOUT.atlas,
    output:
        qc=LAYOUT.qc_table,
        # the one job that writes them: results/preprocess becomes a BIDS-Derivatives dataset
        **LAYOUT.preprocess_dataset_files,
    params:
        settings=job_settings(preprocessing__grid=SETTINGS.preprocessing.grid),
        rows=[LAYOUT.preprocessed(participant_id=s, field="qc_table") for s in SUBJECTS],
        dataset_dir=LAYOUT.preprocess_dir,
        bids_dir=BIDS_ROOT,
    log:
        LAYOUT.log("preprocess", "collect_qc"),
    conda:
        f"{ENVS}/analysis.yaml"
    shell:
        "gla-model collect-qc {params.rows} --out {output.qc} --dataset-dir {params.dataset_dir} "
        "--bids-dir {params.bids_dir:q} --settings {params.settings:q} > {log} 2>&1"
