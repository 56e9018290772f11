"""Preprocessing: per-subject nipype workflows (ants or fsl backend) and the atlas on the grid."""

PREPROCESSING = config["preprocessing"]


def _preprocess_options():
    options = [
        f"--backend {PREPROCESSING['backend']}",
        f"--grid {PREPROCESSING['grid']}",
        f"--reference-region {PREPROCESSING['reference_region']}",
    ]
    if PREPROCESSING["template"]:
        options.append(f"--template {PREPROCESSING['template']}")
    if PREPROCESSING["atlas"]:
        options.append(f"--atlas {PREPROCESSING['atlas']} --atlas-labels {PREPROCESSING['atlas_labels']}")
    if PREPROCESSING["backend"] == "fsl":
        fsl = PREPROCESSING["fsl"]
        options.append(f"--acpc {fsl['acpc']} --spm-mode {fsl['spm_mode']}")
        options += [f"--spm-path {fsl['spm_path']}"] if fsl["spm_path"] else []
        options += [f"--matlab {fsl['matlab']}"] if fsl["matlab"] else []
    return " ".join(options)


def _subject_outputs(*, pet):
    suffixes = dict(PREPROC_SUFFIXES, **({"pet": PET_SUFFIX} if pet else {}))
    return {
        kind: PREPROC / "sub-{subject}" / f"sub-{{subject}}_{suffix}"
        for kind, suffix in suffixes.items()
    }


rule resample_atlas:
    output:
        dseg=ATLAS,
        labels=ATLAS_LABELS,
    params:
        grid=PREPROCESSING["grid"],
        atlas=(
            f"--atlas {PREPROCESSING['atlas']} --atlas-labels {PREPROCESSING['atlas_labels']}"
            if PREPROCESSING["atlas"] else ""
        ),
    log:
        LOGS / "resample_atlas.log",
    shell:
        "gla-model resample-atlas --grid {params.grid} {params.atlas} "
        "--out-dseg {output.dseg} --out-labels {output.labels} > {log} 2>&1"


rule preprocess_paired_subject:
    input:
        t1w=lambda wildcards: SUBJECTS[wildcards.subject].t1w,
        pet=lambda wildcards: SUBJECTS[wildcards.subject].pet,
    output:
        **_subject_outputs(pet=True),
    wildcard_constraints:
        subject=_one_of(PAIRED),
    params:
        pet=lambda wildcards, input: f"--pet {input.pet}" if "pet" in input.keys() else "",
        options=_preprocess_options(),
        out_dir=lambda wildcards: PREPROC / f"sub-{wildcards.subject}",
    log:
        LOGS / "preprocess" / "sub-{subject}.log",
    benchmark:
        BENCH / "preprocess" / "sub-{subject}.tsv"
    group:
        "preprocess"
    threads: PREPROCESSING["threads"]
    resources:
        mem_mb=3000,
        runtime=30,
    shell:
        "gla-model preprocess --participant-id {wildcards.subject} --t1w {input.t1w} "
        "{params.pet} --out-dir {params.out_dir} {params.options} "
        "--threads {threads} > {log} 2>&1"


use rule preprocess_paired_subject as preprocess_mri_only_subject with:
    input:
        t1w=lambda wildcards: SUBJECTS[wildcards.subject].t1w,
    output:
        **_subject_outputs(pet=False),
    wildcard_constraints:
        subject=_one_of(MRI_ONLY),


rule collect_qc:
    input:
        [preproc_file(s, PREPROC_SUFFIXES["qc_row"]) for s in SUBJECTS],
    output:
        PREPROC / "qc.tsv",
    log:
        LOGS / "collect_qc.log",
    run:
        import pandas as pd

        from gla_model.niftiio import write_text_atomic

        table = pd.concat([pd.read_csv(path, sep="\t") for path in input], ignore_index=True)
        write_text_atomic(table.to_csv(sep="\t", index=False), output[0])
