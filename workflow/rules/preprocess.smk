"""Preprocessing: per-subject nipype workflows (ants or fsl backend) and the atlas on the grid."""


# A subject's T1w outputs match both rules; MRI-only subjects fail the paired rule's PET input.
ruleorder: preprocess_paired_subject > preprocess_mri_only_subject


rule resample_atlas:
    output:
        dseg=ATLAS,
        labels=ATLAS_LABELS,
    params:
        grid=PREPROCESSING["grid"],
        atlas=atlas_options(),
    log:
        LOGS / "resample_atlas.log",
    conda:
        f"{ENVS}/preprocess.yaml"
    shell:
        "gla-model resample-atlas --grid {params.grid} {params.atlas} "
        "--out-dseg {output.dseg} --out-labels {output.labels} > {log} 2>&1"


rule preprocess_paired_subject:
    input:
        t1w=lambda wildcards: SUBJECTS[wildcards.subject].t1w,
        pet=paired_pet,
    output:
        **subject_outputs(pet=True),
    params:
        pet=lambda wildcards, input: f"--pet {input.pet}" if "pet" in input.keys() else "",
        options=preprocess_options(),
        out_dir=lambda wildcards: PREPROC / f"sub-{wildcards.subject}",
    log:
        LOGS / "preprocess" / "sub-{subject}.log",
    benchmark:
        BENCH / "preprocess" / "sub-{subject}.tsv"
    group:
        "preprocess"
    threads: PREPROCESSING["threads"]
    resources:
        mem_mb=1500,
        runtime=30,
    conda:
        f"{ENVS}/preprocess.yaml"
    shell:
        "gla-model preprocess --participant-id {wildcards.subject} --t1w {input.t1w:q} "
        "{params.pet} --out-dir {params.out_dir} {params.options} "
        "--threads {threads} > {log} 2>&1"


use rule preprocess_paired_subject as preprocess_mri_only_subject with:
    input:
        t1w=lambda wildcards: SUBJECTS[wildcards.subject].t1w,
    output:
        **subject_outputs(pet=False),


rule collect_qc:
    input:
        [preproc_file(s, "qc_table") for s in SUBJECTS],
    output:
        PREPROC / "qc.tsv",
    log:
        LOGS / "collect_qc.log",
    conda:
        f"{ENVS}/analysis.yaml"
    shell:
        "gla-model collect-qc {input} --out {output} > {log} 2>&1"
