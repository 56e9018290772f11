"""Graph building of init_preprocess_wf (nothing is run)."""

import dataclasses
from pathlib import Path

import pytest

from gla_model.layout import PREPROCESSED_FIELDS
from gla_model.preprocess.ants import init_ants_wf
from gla_model.preprocess.outputs import SPATIAL_FIELDS
from gla_model.preprocess.workflow import init_preprocess_wf
from gla_model.settings import build_settings, load_config

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = build_settings(config=load_config(paths=[ROOT / "config.yaml"])).preprocessing


def _workflow(*, has_pet=True, **changes):
    settings = dataclasses.replace(SETTINGS, **{"grid": 32, **changes})
    return init_preprocess_wf(participant_id="01", has_pet=has_pet, settings=settings)


def _edges(workflow):
    graph = workflow._create_flat_graph()
    return {(u.fullname.split(".")[-1], v.fullname.split(".")[-1]) for u, v in graph.edges()}


def test_ants_workflow_has_the_paper_steps_in_order():
    workflow = _workflow(backend="ants", has_pet=True, grid=32)
    edges = _edges(workflow)
    chain = [("load_inputs", "inputnode"), ("inputnode", "rough_skull_strip"),
             ("rough_skull_strip", "rigid_to_template"),
             ("rigid_to_template", "affine_to_template"),
             ("affine_to_template", "brain_extraction"), ("brain_extraction", "bias_correction"),
             ("bias_correction", "segment_tissues"), ("segment_tissues", "gm_to_grid"),
             ("bias_correction", "pet_to_t1w"), ("pet_to_t1w", "pet_to_grid"),
             ("affine_to_template", "pet_to_grid"), ("pet_to_grid", "outputnode"),
             ("outputnode", "pet_suvr"),
             ("pet_suvr", "quality_control")]
    missing = [edge for edge in chain if edge not in edges]
    assert not missing


def test_pet_is_resampled_once_from_the_input_pet():
    workflow = _workflow(backend="ants", has_pet=True, grid=32)
    spatial = workflow.get_node("ants_spatial_wf")
    node = spatial.get_node("pet_to_grid")
    sources = {(u.name, tuple(d["connect"])) for u, v, d in spatial._graph.in_edges(node,
                                                                                      data=True)}
    assert ("inputnode", (("pet", "in_file"),)) in sources
    assert ("pet_to_t1w", (("matrix", "source_to_image"),)) in sources
    assert ("affine_to_template", (("matrix", "mni_to_source"),)) in sources
    assert spatial.get_node("pet_to_t1w").inputs.sampling_rate == 1.0


def test_mri_only_workflow_has_no_pet_nodes():
    workflow = _workflow(backend="ants", has_pet=False, grid=32)
    names = {node.fullname.split(".")[-1] for node in workflow._create_flat_graph().nodes()}
    assert not {"pet_to_t1w", "pet_to_grid", "pet_suvr"} & names
    assert "quality_control" in names


def test_outputnode_fields_and_threads_free_parameters():
    workflow = _workflow(backend="ants", has_pet=True, grid=64, reference_region="pons")
    outputnode = workflow.get_node("outputnode")
    assert sorted(outputnode.outputs.copyable_trait_names()) == sorted(PREPROCESSED_FIELDS)
    assert workflow.get_node("pet_suvr").inputs.reference_region == "pons"
    grid_node = workflow.get_node("ants_spatial_wf").get_node("t1w_to_grid")
    assert grid_node.inputs.grid == 64


@pytest.mark.parametrize(("kwargs", "match"), [({"backend": "spm"}, "backend"),
                                               ({"reference_region": "thalamus"}, "reference")])
def test_bad_parameters_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _workflow(**kwargs)


@pytest.mark.parametrize("has_pet", [True, False])
def test_ants_spatial_workflow_alone_has_the_spatial_fields(has_pet):
    workflow = init_ants_wf(has_pet=has_pet, settings=SETTINGS)
    outputnode = workflow.get_node("outputnode")
    assert sorted(outputnode.outputs.copyable_trait_names()) == sorted(SPATIAL_FIELDS)
    assert workflow.get_node("t1w_to_grid").inputs.grid == SETTINGS.grid
    assert (workflow.get_node("pet_to_grid") is not None) == has_pet


def test_template_and_atlas_settings_reach_their_nodes():
    workflow = _workflow(template="/data/tpl.nii.gz", atlas="/data/aal.nii",
                         atlas_labels="/data/aal.txt")
    spatial = workflow.get_node("ants_spatial_wf")
    assert spatial.get_node("rigid_to_template").inputs.template == "/data/tpl.nii.gz"
    assert spatial.get_node("affine_to_template").inputs.template == "/data/tpl.nii.gz"
    assert workflow.get_node("quality_control").inputs.template == "/data/tpl.nii.gz"
    suvr = workflow.get_node("pet_suvr").inputs
    assert (suvr.atlas, suvr.atlas_labels) == ("/data/aal.nii", "/data/aal.txt")
