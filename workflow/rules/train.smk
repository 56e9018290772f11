"""Training: one job per (model variant, fold), plus one model on all paired subjects."""


rule train_model:
    input:
        folds=FOLDS_TABLE,
        atlas=ATLAS,
        images=preprocessed(),
    output:
        model=checkpoint_path("{variant}", "{fold}"),
        history=checkpoint_path("{variant}", "{fold}").with_name("history.tsv"),
    wildcard_constraints:
        variant=_one_of(VARIANTS),
    params:
        spec=lambda wildcards: as_json(model_spec(variant=VARIANTS[wildcards.variant])),
        training=lambda wildcards: as_json(
            variant_training(training=config["training"], variant=VARIANTS[wildcards.variant])
        ),
        preproc_dir=PREPROC,
        out_dir=lambda wildcards, output: Path(output.model).parent,
    log:
        LOGS / "train" / "{variant}_fold-{fold}.log",
    benchmark:
        BENCH / "train" / "{variant}_fold-{fold}.tsv"
    threads: config["training"]["threads"]
    resources:
        mem_mb=8000,
        runtime=720,
    conda:
        f"{ENVS}/torch.yaml"
    shell:
        "gla-model train --variant {wildcards.variant} --variant-spec {params.spec:q} "
        "--training {params.training:q} --folds {input.folds} --fold {wildcards.fold} "
        "--preproc-dir {params.preproc_dir} --atlas {input.atlas} --out-dir {params.out_dir} "
        "--threads {threads} > {log} 2>&1"
