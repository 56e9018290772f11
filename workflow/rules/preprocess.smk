"""Preprocessing: per-subject nipype workflows (ants or fsl backend) and the atlas on the grid."""


# A subject's T1w outputs match both rules; MRI-only subjects fail the paired rule's PET input.
ruleorder: preprocess_paired_subject > preprocess_mri_only_subject


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


rule preprocess_paired_subject:
    input:
        t1w=lambda wildcards: SUBJECTS[wildcards.subject].t1w,
        pet=paired_pet,
    output:
        **LAYOUT.subject_outputs(participant_id="{subject}", has_pet=True),
    params:
        pet=lambda wildcards, input: f"--pet {input.pet}" if "pet" in input.keys() else "",
        settings=job_settings(preprocessing=without_resources(SETTINGS.preprocessing)),
        out_dir=lambda wildcards: LAYOUT.subject_dir(wildcards.subject),
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
        "--out-dir {params.out_dir} > {log} 2>&1"


use rule preprocess_paired_subject as preprocess_mri_only_subject with:
    input:
        t1w=lambda wildcards: SUBJECTS[wildcards.subject].t1w,
    output:
        **LAYOUT.subject_outputs(participant_id="{subject}", has_pet=False),


rule collect_qc:
    input:
        [LAYOUT.preprocessed(participant_id=s, field="qc_table") for s in SUBJECTS],
    output:
        LAYOUT.qc_table,
    log:
        LAYOUT.log("preprocess", "collect_qc"),
    conda:
        f"{ENVS}/analysis.yaml"
    shell:
        "gla-model collect-qc {input} --out {output} > {log} 2>&1"
