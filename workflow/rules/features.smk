"""AAL ROI features (116 regions x MRI/PET x GM/WM) per PET source: real or a variant."""


rule extract_features:
    input:
        images=feature_inputs,
        cohort=LAYOUT.cohort_table,
        atlas=LAYOUT.atlas,
    output:
        LAYOUT.features("{source}"),
    wildcard_constraints:
        source=_one_of(FEATURE_SOURCES),
    params:
        settings=job_settings(features__mri=SETTINGS.features.mri),
        synth=lambda wildcards: synth_dir_option(wildcards.source),
        preproc_dir=LAYOUT.preprocess_dir,
    log:
        LAYOUT.log("features", "{source}"),
    benchmark:
        LAYOUT.benchmark("features", "{source}")
    conda:
        f"{ENVS}/analysis.yaml"
    shell:
        "gla-model features --settings {params.settings:q} --cohort {input.cohort} "
        "--preproc-dir {params.preproc_dir} "
        "--atlas {input.atlas} --source {wildcards.source} {params.synth} "
        "--out {output} > {log} 2>&1"
