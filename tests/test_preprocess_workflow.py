"""Graph building of init_preprocess_wf (nothing is run)."""

import pytest

from gla_model.preprocess.workflow import OUTPUT_FIELDS, init_preprocess_wf


def _edges(workflow):
    graph = workflow._create_flat_graph()
    return {(u.fullname.split(".")[-1], v.fullname.split(".")[-1]) for u, v in graph.edges()}


def test_ants_workflow_has_the_paper_steps_in_order():
    workflow = init_preprocess_wf(backend="ants", participant_id="01", has_pet=True, grid=32)
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
    workflow = init_preprocess_wf(backend="ants", participant_id="01", has_pet=True, grid=32)
    spatial = workflow.get_node("ants_spatial_wf")
    node = spatial.get_node("pet_to_grid")
    sources = {(u.name, tuple(d["connect"])) for u, v, d in spatial._graph.in_edges(node,
                                                                                      data=True)}
    assert ("inputnode", (("pet", "in_file"),)) in sources
    assert ("pet_to_t1w", (("matrix", "source_to_image"),)) in sources
    assert ("affine_to_template", (("matrix", "mni_to_source"),)) in sources
    assert spatial.get_node("pet_to_t1w").inputs.sampling_rate == 1.0


def test_mri_only_workflow_has_no_pet_nodes():
    workflow = init_preprocess_wf(backend="ants", participant_id="01", has_pet=False, grid=32)
    names = {node.fullname.split(".")[-1] for node in workflow._create_flat_graph().nodes()}
    assert not {"pet_to_t1w", "pet_to_grid", "pet_suvr"} & names
    assert "quality_control" in names


def test_outputnode_fields_and_threads_free_parameters():
    workflow = init_preprocess_wf(backend="ants", participant_id="01", has_pet=True, grid=64,
                                  reference_region="pons")
    outputnode = workflow.get_node("outputnode")
    assert sorted(outputnode.outputs.copyable_trait_names()) == sorted(OUTPUT_FIELDS)
    assert workflow.get_node("pet_suvr").inputs.reference_region == "pons"
    grid_node = workflow.get_node("ants_spatial_wf").get_node("t1w_to_grid")
    assert grid_node.inputs.grid == 64


@pytest.mark.parametrize(("kwargs", "match"), [({"backend": "spm"}, "backend"),
                                               ({"reference_region": "thalamus"}, "reference")])
def test_bad_parameters_are_rejected(kwargs, match):
    arguments = {"backend": "ants", "participant_id": "01", "has_pet": True, "grid": 32,
                 **kwargs}
    with pytest.raises(ValueError, match=match):
        init_preprocess_wf(**arguments)
